// Package testkit holds what this repository's tests, benchmarks and
// development tools share: the rule for a missing prerequisite, loopback
// ports, and a Runner that lets a program use test helpers. It is a module of
// its own with the standard library only, so the receiver's module graph and
// public API carry none of it.
package testkit

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// T is what the helpers need of their caller: a *testing.T, *testing.B, or a
// Runner in a development command.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

var _ T = testing.TB(nil)

// Unavailable ends a test whose prerequisite is missing. CI installs and
// builds everything the tests need, so there a missing prerequisite is a
// failure; on a developer's machine the test is skipped with how to get it.
func Unavailable(t T, what, remedy string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: CI must provide it (%s)", what, remedy)
	}
	t.Skipf("%s: %s", what, remedy)
}

// Program returns the path of a program the test needs, looking in the
// sbin directories too, as chronyd lives in /usr/sbin.
func Program(t T, prog string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + prog); err == nil {
			return p
		}
	}
	Unavailable(t, prog+" not found", "install Debian's package; make test and .ci/run do")
	return ""
}

// RequireRoot ends a test that must act as other users when it is not root.
func RequireRoot(t T) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "this test switches users and needs root", "run it as root, as CI does")
	}
}

// FreeTCPPort returns a loopback TCP port that was free a moment ago. It is
// taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
// 32768 and up by default), where no outgoing connection of a parallel test
// can take it before the test binds it, and never handed out twice by one
// test binary.
func FreeTCPPort(t T) int {
	t.Helper()
	return freePort(t, "tcp", func(addr string) (io.Closer, error) { return net.Listen("tcp", addr) })
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago, chosen
// as FreeTCPPort chooses.
func FreeUDPPort(t T) int {
	t.Helper()
	return freePort(t, "udp", func(addr string) (io.Closer, error) { return net.ListenPacket("udp", addr) })
}

// The ports one process has handed out: a test binary's parallel tests share
// them, so that two never get the same port between its check and its bind.
var (
	portsMu    sync.Mutex
	portsGiven = map[string]bool{}
)

func freePort(t T, network string, bind func(string) (io.Closer, error)) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 2000 {
		p := 20000 + rand.IntN(12000)
		key := fmt.Sprintf("%s/%d", network, p)
		if portsGiven[key] {
			continue
		}
		c, err := bind(fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		c.Close()
		portsGiven[key] = true
		return p
	}
	t.Fatalf("no free %s port found between 20000 and 32000", network)
	return 0
}
