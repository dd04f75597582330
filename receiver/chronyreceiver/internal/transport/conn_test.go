package transport

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeUnixChronyd listens where chronyd's socket would be and echoes each
// request back as a reply with the same sequence, from its own path.
func fakeUnixChronyd(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "chronyd.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); os.Remove(path) })
	go func() {
		buf := make([]byte, 1024)
		for {
			_, from, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			reply := make([]byte, replyHeaderLen+4)
			copy(reply, buf[:6])
			reply[1] = packetTypeReply
			reply[7] = 2 // RPY_N_SOURCES
			copy(reply[16:20], buf[8:12])
			_, _ = conn.WriteToUnix(reply, from)
		}
	}()
	return path
}

func request(cmd byte, seq byte) []byte {
	req := make([]byte, 20+396)
	req[0], req[1], req[5], req[11] = protocolVersion, 1, cmd, seq
	return req
}

// The reply socket is a file chronyd (another user) can write to, next to
// chronyd's socket, and it is gone after Close; nothing else is touched.
func TestUnixReplySocket(t *testing.T) {
	dir := t.TempDir()
	sock := fakeUnixChronyd(t, dir)
	bystander := filepath.Join(dir, "chronyc.1234.sock")
	if err := os.WriteFile(bystander, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ep, _ := ParseEndpoint("unix://" + sock)
	c, err := Dial(ep, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(c.ReplyPath())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(c.ReplyPath()) != dir {
		t.Errorf("reply socket in %s, want chronyd's directory %s", filepath.Dir(c.ReplyPath()), dir)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o666 {
		t.Errorf("reply socket mode %v, want a socket with 0666", st.Mode())
	}
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(request(CmdNSources, 7)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.ReplyPath()); !os.IsNotExist(err) {
		t.Errorf("reply socket still there after Close: %v", err)
	}
	if _, err := os.Stat(bystander); err != nil {
		t.Errorf("another program's socket was touched: %v", err)
	}
}

// The reply socket can live in a directory of its own (a shared volume).
func TestUnixReplyDir(t *testing.T) {
	sock := fakeUnixChronyd(t, t.TempDir())
	replyDir := t.TempDir()
	ep, _ := ParseEndpoint("unix://" + sock)
	c, err := Dial(ep, Options{ReplyDir: replyDir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if filepath.Dir(c.ReplyPath()) != replyDir {
		t.Errorf("reply socket %s, want it in %s", c.ReplyPath(), replyDir)
	}
}

// No chronyd behind the path: Dial fails at once, naming it, and leaves no file.
func TestUnixNoChronyd(t *testing.T) {
	dir := t.TempDir()
	ep, _ := ParseEndpoint("unix://" + filepath.Join(dir, "chronyd.sock"))
	_, err := Dial(ep, Options{})
	if err == nil {
		t.Fatal("dial to a missing socket succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// A reply directory chronyd's socket is not in and we cannot write to is a
// clear error.
func TestUnixReplyDirNotWritable(t *testing.T) {
	sock := fakeUnixChronyd(t, t.TempDir())
	ep, _ := ParseEndpoint("unix://" + sock)
	_, err := Dial(ep, Options{ReplyDir: filepath.Join(t.TempDir(), "missing")})
	if err == nil {
		t.Fatal("bound a reply socket in a missing directory")
	}
}
