package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// fakeUnixChronyd listens where chronyd's socket would be and answers each
// request as a sources reply claiming `count` sources, after `delay`, from
// its own path. With count < 0 it never reads at all, as a stopped chronyd.
func fakeUnixChronyd(t *testing.T, dir string, count int32, delay time.Duration) string {
	t.Helper()
	path := filepath.Join(dir, "chronyd.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); os.Remove(path) })
	if count < 0 {
		return path
	}
	go func() {
		buf := make([]byte, 1024)
		for {
			n, from, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			reply := replyTo(buf[:n], 0)
			binary.BigEndian.PutUint32(ReplyBody(reply), uint32(count))
			time.Sleep(delay)
			_, _ = conn.WriteToUnix(reply, from)
		}
	}()
	return path
}

func unixEndpoint(t *testing.T, path string) Endpoint {
	t.Helper()
	ep, err := ParseEndpoint("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// The reply socket is a file chronyd (another user) can write to, next to
// chronyd's socket, and it is gone after Close; nothing else is touched.
func TestUnixReplySocket(t *testing.T) {
	dir := t.TempDir()
	sock := fakeUnixChronyd(t, dir, 2, 0)
	bystander := filepath.Join(dir, "chronyc.1234.sock")
	if err := os.WriteFile(bystander, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(unixEndpoint(t, sock), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(replyPath(c))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(replyPath(c)) != dir {
		t.Errorf("reply socket in %s, want chronyd's directory %s", filepath.Dir(replyPath(c)), dir)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o666 {
		t.Errorf("reply socket mode %v, want a socket with 0666", st.Mode())
	}
	items := exchangeOf(7)
	if err := c.Exchange(within(t, time.Second), items); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint32(ReplyBody(items[0].Reply)); got != 2 {
		t.Errorf("reply says %d sources, want 2", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(replyPath(c)); !os.IsNotExist(err) {
		t.Errorf("reply socket still there after Close: %v", err)
	}
	if _, err := os.Stat(bystander); err != nil {
		t.Errorf("another program's file was touched: %v", err)
	}
}

// The reply socket can live in a directory of its own (a shared volume).
func TestUnixReplyDir(t *testing.T) {
	sock := fakeUnixChronyd(t, t.TempDir(), 2, 0)
	replyDir := t.TempDir()
	c := dial(t, unixEndpoint(t, sock), Options{ReplyDir: replyDir})
	if filepath.Dir(replyPath(c)) != replyDir {
		t.Errorf("reply socket %s, want it in %s", replyPath(c), replyDir)
	}
}

// Dial fails at once with a message that names the path and says what is
// wrong, and leaves no file behind.
func TestUnixDialErrors(t *testing.T) {
	dir := t.TempDir()
	live := fakeUnixChronyd(t, t.TempDir(), 2, 0)
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, "dead.sock")
	if fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0); err != nil {
		t.Fatal(err)
	} else {
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: dead}); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	tests := []struct {
		name, socket, replyDir string
		want                   []string
	}{
		{"no chronyd", filepath.Join(dir, "chronyd.sock"), "", []string{"chronyd's socket at unix://", "no such file or directory"}},
		{"socket path is a file", regular, "", []string{regular, "is not a socket but a regular file"}},
		{"socket path is a directory", dir, "", []string{"is not a socket but a directory"}},
		{"nobody reads the socket", dead, "", []string{"connect to chronyd", "connection refused", "no chronyd reads it"}},
		{"reply dir missing", live, filepath.Join(dir, "missing"), []string{"reply socket directory", "missing", "no such file or directory"}},
		{"reply dir is a file", live, regular, []string{"reply socket directory", "not a directory but a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadDir(dir)
			_, err := Dial(unixEndpoint(t, tt.socket), Options{ReplyDir: tt.replyDir})
			if err == nil {
				t.Fatal("dial succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Errorf("left files behind: %v", after)
			}
		})
	}
}

// A chronyd that cannot write into the reply directory never answers; the
// error says so and names the directory.
func TestUnixNothingComesBack(t *testing.T) {
	dir := t.TempDir()
	sock := fakeUnixChronyd(t, dir, -1, 0)
	c := dial(t, unixEndpoint(t, sock), Options{RetryInterval: 50 * time.Millisecond})
	err := c.Exchange(within(t, 200*time.Millisecond), exchangeOf(1))
	if err == nil {
		t.Fatal("exchange without a reply succeeded")
	}
	for _, w := range []string{"no sources reply", "nothing came back", "unable to write into the reply directory " + dir} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// expiringContext is a context whose deadline has passed from its second
// Err on: what a machine too loaded to read before the deadline sees once
// the requests are out.
type expiringContext struct {
	context.Context
	calls int
}

func (c *expiringContext) Err() error {
	if c.calls++; c.calls > 1 {
		return context.DeadlineExceeded
	}
	return nil
}

// A deadline noticed before a read rather than by it is the same unanswered
// wait, told the same way: which of the two notices it is up to the
// scheduler.
func TestUnixDeadlineBetweenWaits(t *testing.T) {
	dir := t.TempDir()
	sock := fakeUnixChronyd(t, dir, -1, 0)
	c := dial(t, unixEndpoint(t, sock), Options{RetryInterval: time.Minute})
	ctx := &expiringContext{Context: within(t, time.Minute)}
	err := c.Exchange(ctx, exchangeOf(1))
	if err == nil {
		t.Fatal("exchange without a reply succeeded")
	}
	for _, w := range []string{"no sources reply", "after 1 tries", "nothing came back", "unable to write into the reply directory " + dir} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap the context's deadline", err)
	}
}

// A chronyd that stopped reading (SIGSTOP) fills its queue; a write must
// then end at the deadline with a reason, not block forever.
func TestUnixWedgedChronydBoundedByDeadline(t *testing.T) {
	sock := fakeUnixChronyd(t, t.TempDir(), -1, 0)
	c := dial(t, unixEndpoint(t, sock), Options{RetryInterval: 10 * time.Millisecond})
	for i := range 5 {
		start := time.Now()
		err := c.Exchange(within(t, 300*time.Millisecond), exchangeOf(uint32(10*i+1), uint32(10*i+2)))
		took := time.Since(start)
		if err == nil {
			t.Fatal("exchange with a wedged chronyd succeeded")
		}
		if took > time.Second {
			t.Fatalf("exchange %d took %s with a 300ms deadline", i, took)
		}
		if i > 0 && !strings.Contains(err.Error(), "not reading its socket") {
			t.Errorf("exchange %d: error %q does not say chronyd is not reading", i, err)
		}
	}
}

// Many requests over the unix socket: all are answered, none lost to a
// full reply queue.
func TestUnixManyRequests(t *testing.T) {
	sock := fakeUnixChronyd(t, t.TempDir(), 3, 0)
	exchangeAll(t, dial(t, unixEndpoint(t, sock), Options{RetryInterval: 200 * time.Millisecond}), 1200)
}

// Regression for a root collector chmodding any file: chronyd's user renames
// a symlink over each new reply socket (inotify, as fast as it can). The
// link's target must never change mode, and a Dial that lost the race says
// what happened.
func TestUnixReplySocketSymlinkRace(t *testing.T) {
	dir := t.TempDir()
	sock := fakeUnixChronyd(t, dir, 2, 0)
	target := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(ifd, dir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	events := os.NewFile(uintptr(ifd), "inotify")
	var swaps atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64*1024)
		for n := 0; ; n++ {
			k, err := events.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= k; {
				ev := (*unix.InotifyEvent)(unsafePointer(&buf[off]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if !strings.HasPrefix(name, replyPrefix) || !strings.HasSuffix(name, replySuffix) {
					continue
				}
				tmp := filepath.Join(dir, ".swap")
				_ = os.Remove(tmp)
				if os.Symlink(target, tmp) == nil && os.Rename(tmp, filepath.Join(dir, name)) == nil {
					swaps.Add(1)
				}
			}
		}
	}()
	refused := 0
	for range 300 {
		c, err := Dial(unixEndpoint(t, sock), Options{})
		if err != nil {
			if !strings.Contains(err.Error(), "was replaced") && !strings.Contains(err.Error(), "no such file") {
				t.Errorf("unexpected error: %v", err)
			}
			refused++
			continue
		}
		_ = c.Close()
	}
	events.Close()
	<-done
	st, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("the symlink's target became %v after %d swaps", st.Mode().Perm(), swaps.Load())
	}
	if swaps.Load() == 0 {
		t.Fatal("the swapper never swapped: the test proved nothing")
	}
	t.Logf("%d swaps, %d dials refused, target still %v", swaps.Load(), refused, st.Mode().Perm())
}

// Reply sockets left by a killed collector are removed at the next Dial;
// live ones, other people's files and look-alikes that are not sockets stay.
func TestUnixStaleReplySocketsRemoved(t *testing.T) {
	dir := t.TempDir()
	sock := fakeUnixChronyd(t, dir, 2, 0)
	bound := func(name string) (string, int) {
		path := filepath.Join(dir, name)
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
		return path, fd
	}
	dead, fd := bound("otelcol-chrony.4242.00000000deadbeef.sock")
	unix.Close(fd) // SIGKILL: closed without removing the file
	live, liveFD := bound("otelcol-chrony.4243.00000000cafecafe.sock")
	defer unix.Close(liveFD)
	// A live collector's socket is connected to chronyd; connecting to it is refused with EPERM.
	if err := unix.Connect(liveFD, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	notSocket := filepath.Join(dir, "otelcol-chrony.1.0000000000000000.sock")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	otherDead, fd := bound("chronyc.77.sock")
	unix.Close(fd)

	c := dial(t, unixEndpoint(t, sock), Options{})
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Errorf("stale reply socket %s not removed: %v", dead, err)
	}
	for _, keep := range []string{live, notSocket, otherDead, replyPath(c)} {
		if _, err := os.Lstat(keep); err != nil {
			t.Errorf("%s removed: %v", keep, err)
		}
	}
}

// Sequence numbers a forger can guess are no help to it: datagrams sent to
// the reply socket by another user before and after connect never reach an
// exchange. The injector runs as nobody in a world-writable reply directory,
// and forges replies with every sequence number from 1 to 64.
func TestUnixNoInjectionFromOtherUsers(t *testing.T) {
	testkit.RequireRoot(t)
	replyDir, err := os.MkdirTemp("", "chrony-reply-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(replyDir) })
	if err := os.Chmod(replyDir, 0o1777); err != nil {
		t.Fatal(err)
	}
	sock := fakeUnixChronyd(t, t.TempDir(), 2, 20*time.Millisecond)
	stop := startHelper(t, helperInject, replyDir)
	accepted := 0
	for i := range 150 {
		c, err := Dial(unixEndpoint(t, sock), Options{ReplyDir: replyDir})
		if err != nil {
			t.Fatal(err)
		}
		// Give the injector time to find and hit the socket before asking.
		if i%3 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		items := exchangeOf(1)
		if err := c.Exchange(within(t, 2*time.Second), items); err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint32(ReplyBody(items[0].Reply)); got != 2 {
			accepted++
		}
		_ = c.Close()
	}
	attempts := stop()
	if accepted > 0 {
		t.Fatalf("%d of 150 exchanges took a forged reply", accepted)
	}
	if !strings.Contains(attempts, "found") {
		t.Fatalf("the injector never found a reply socket (%q): the test proved nothing", attempts)
	}
	t.Logf("injector: %s", attempts)
}

// A reply directory we may not write into is refused at Dial, naming it.
func TestUnixReplyDirNotWritable(t *testing.T) {
	testkit.RequireRoot(t)
	sockDir, err := os.MkdirTemp("", "chrony-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	if err := os.Chmod(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := fakeUnixChronyd(t, sockDir, 2, 0)
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	out := runHelper(t, helperDial, sock, sockDir)
	for _, w := range []string{"bind reply socket", sockDir, "permission denied"} {
		if !strings.Contains(out, w) {
			t.Errorf("error %q does not say %q", out, w)
		}
	}
	// Every attempt binds a new name; the reason names none of them, so the
	// next attempt's failure is the same reason.
	reason := func(out string) string {
		_, r, _ := strings.Cut(out, reasonLine)
		return strings.TrimSpace(r)
	}
	again := runHelper(t, helperDial, sock, sockDir)
	want := "bind reply socket " + filepath.Join(sockDir, "otelcol-chrony.*.sock") + " for chronyd at unix://" + sock + ": permission denied"
	for _, o := range []string{out, again} {
		if r := reason(o); r != want {
			t.Errorf("reason %q, want %q", r, want)
		}
	}
}
