package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/testuser"
)

// Tests that need another user re-run this test binary as nobody, in one of
// these modes, selected by environment.
const (
	helperEnv    = "TRANSPORT_TEST_HELPER"
	helperInject = "inject"
	helperDial   = "dial"
)

// reasonLine starts the line on which the dial helper prints a failure's
// reason.
const reasonLine = "reason: "

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case helperInject:
		inject(os.Args[len(os.Args)-1])
	case helperDial:
		sock, dir := os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]
		ep, _ := ParseEndpoint("unix://" + sock)
		if _, err := Dial(ep, Options{ReplyDir: dir}); err != nil {
			fmt.Println(err)
			var te *Error
			if errors.As(err, &te) {
				fmt.Println(reasonLine + te.Reason())
			}
			os.Exit(3)
		}
		fmt.Println("dial succeeded")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// inject forges sources replies with sequence numbers 1 to 64 at every reply
// socket that appears in dir, until killed, and keeps a tally in dir.
func inject(dir string) {
	found, sent := 0, 0
	seen := map[string]bool{}
	tally := filepath.Join(dir, "injector.tally")
	// Written aside and renamed, so that a reader never sees a half-written
	// (or, killed mid-write, empty) tally.
	writeTally := func(text string) {
		tmp := tally + ".tmp"
		if os.WriteFile(tmp, []byte(text), 0o644) == nil {
			_ = os.Rename(tmp, tally)
		}
	}
	writeTally("started")
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name := e.Name()
			if !strings.HasPrefix(name, replyPrefix) || seen[name] {
				continue
			}
			seen[name] = true
			found++
			fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
			if err != nil {
				continue
			}
			for seq := uint32(1); seq <= 64; seq++ {
				forged := replyTo(request(CmdNSources, seq), 0)
				binary.BigEndian.PutUint32(ReplyBody(forged), 0xBAD)
				if syscall.Sendto(fd, forged, syscall.MSG_DONTWAIT, &syscall.SockaddrUnix{Name: filepath.Join(dir, name)}) == nil {
					sent++
				}
			}
			syscall.Close(fd)
		}
		writeTally(fmt.Sprintf("found %d sockets, delivered %d forged replies", found, sent))
		time.Sleep(200 * time.Microsecond)
	}
}

// helperCommand is this test binary in helper mode, as nobody.
func helperCommand(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := testuser.Command(t, testuser.Nobody, testuser.Nobody, append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// startHelper runs a helper in the background; the returned func kills it
// and returns its tally.
func startHelper(t *testing.T, mode, dir string) func() string {
	t.Helper()
	cmd := helperCommand(t, mode, dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		b, _ := os.ReadFile(filepath.Join(dir, "injector.tally"))
		return string(b)
	}
	t.Cleanup(func() { stop() })
	// Let it start watching before the first Dial: it writes its tally at once.
	tally := filepath.Join(dir, "injector.tally")
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(tally); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the helper did not start: %s", stop())
		}
	}
	return stop
}

// runHelper runs a helper to the end and returns what it printed.
func runHelper(t *testing.T, mode string, args ...string) string {
	t.Helper()
	out, _ := helperCommand(t, mode, args...).CombinedOutput()
	return string(out)
}

func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

// replyPath is the unix reply socket's file, empty over UDP.
func replyPath(c *Conn) string {
	if c.reply == nil {
		return ""
	}
	return c.reply.path
}
