// Package chronylab runs real chronyd daemons on loopback for tests: an
// upstream server (local stratum 1) and a chronyd under test that syncs to it,
// both with -x so neither ever touches the system clock. The receiver's
// tests, the end-to-end tests, the benchmarks and `make run` share it.
package chronylab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// Options shape the lab.
type Options struct {
	// SourceOffset shifts every measurement of the upstream source (chrony's
	// `offset` option), making the system clock look that far off.
	SourceOffset float64
	// Refclock adds a `refclock SOCK` source named PHC0, fed by the lab, as an
	// AKS node's PTP clock would be.
	Refclock bool
	// NoUpstream leaves out the NTP server, for a lab synced to PHC0 alone.
	NoUpstream bool
	// ServeNTP makes the chronyd under test an NTP server too, on loopback
	// port ClientNTPPort: with SourceOffset it serves time that far off,
	// a server to cross-check against.
	ServeNTP bool
	// ExtraSources adds that many NTP sources that never answer, at
	// loopback addresses 127.1.x.y, for tests of chronyds with many sources.
	ExtraSources int
}

// Lab is a running chronyd under test and its upstream.
type Lab struct {
	t       testkit.T
	dir     string
	opts    Options
	User    string // the user chronyd drops to, empty when it stays root
	CmdPort int
	ntpPort int
	// ClientNTPPort is where the chronyd under test serves NTP (ServeNTP).
	ClientNTPPort int

	server, client *exec.Cmd
	feederStop     chan struct{}
	feederDone     chan struct{}
}

// ChronydEnv names another chronyd binary for the lab, to record replies from
// other chrony releases (see the receiver's TestCaptureReplies).
const ChronydEnv = "CHRONYLAB_CHRONYD"

func chronyd(t testkit.T) string {
	if p := os.Getenv(ChronydEnv); p != "" {
		return p
	}
	return testkit.Program(t, "chronyd")
}

// Start starts the lab and stops it when the test ends.
func Start(t testkit.T, opts Options) *Lab {
	t.Helper()
	chronyd(t)
	testkit.Program(t, "chronyc")
	base, err := os.MkdirTemp("", "chronylab-")
	if err != nil {
		t.Fatal(err)
	}
	// chronyd (dropped to its own user) must reach into the tree.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	l := &Lab{t: t, dir: base, opts: opts, CmdPort: testkit.FreeUDPPort(t), ntpPort: testkit.FreeUDPPort(t)}
	if opts.ServeNTP {
		l.ClientNTPPort = testkit.FreeUDPPort(t)
	}
	t.Cleanup(func() {
		l.Stop()
		if t.Failed() {
			l.dumpLogs()
		}
		_ = os.RemoveAll(base)
	})
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("_chrony"); err == nil {
			l.User = "_chrony"
			if dir := unsearchableParent(base); dir != "" {
				t.Fatalf("chronyd drops to %s, which cannot reach %s: %s is not searchable by others; set TMPDIR to a directory that is (such as /tmp)", l.User, base, dir)
			}
		}
	}
	if err := os.MkdirAll(l.RunDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	// chronyd refuses a socket directory that is not its own or is too open.
	if l.User != "" {
		u, _ := user.Lookup(l.User)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(l.RunDir(), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(l.RunDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	if !opts.NoUpstream {
		l.StartServer()
	}
	if opts.Refclock {
		l.startFeeder()
	}
	l.StartChronyd()
	return l
}

// unsearchableParent returns the first directory above dir that users other
// than its owner cannot enter, or "" when chronyd's user can reach dir.
func unsearchableParent(dir string) string {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			return d
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// Dir is the lab's temporary directory.
func (l *Lab) Dir() string { return l.dir }

// RunDir holds chronyd's command socket, like /run/chrony.
func (l *Lab) RunDir() string { return filepath.Join(l.dir, "run") }

// SocketPath is chronyd's command socket.
func (l *Lab) SocketPath() string { return filepath.Join(l.RunDir(), "chronyd.sock") }

// UnixEndpoint and UDPEndpoint are the receiver's endpoint settings.
func (l *Lab) UnixEndpoint() string { return "unix://" + l.SocketPath() }
func (l *Lab) UDPEndpoint() string  { return fmt.Sprintf("udp://127.0.0.1:%d", l.CmdPort) }

func (l *Lab) refclockSocket() string { return filepath.Join(l.dir, "phc0.sock") }

// NTPServer is the upstream server's address, host:port.
func (l *Lab) NTPServer() string { return fmt.Sprintf("127.0.0.1:%d", l.ntpPort) }

// ClientNTPServer is where the chronyd under test serves NTP (ServeNTP).
func (l *Lab) ClientNTPServer() string { return fmt.Sprintf("127.0.0.1:%d", l.ClientNTPPort) }

// StartServer starts the upstream NTP server.
func (l *Lab) StartServer() {
	l.t.Helper()
	conf := fmt.Sprintf(`port %d
cmdport 0
bindcmdaddress /
local stratum 1
allow 127.0.0.1
driftfile %s/server.drift
`, l.ntpPort, l.dir)
	l.server = l.run("server", conf, false)
}

// StopServer kills the upstream server: the chronyd under test loses its source.
func (l *Lab) StopServer() { stop(l.server); l.server = nil }

// StartChronyd starts the chronyd under test.
func (l *Lab) StartChronyd() {
	l.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\ncmdport %d\nbindcmdaddress 127.0.0.1\nbindcmdaddress %s\n", l.ClientNTPPort, l.CmdPort, l.SocketPath())
	if l.opts.ServeNTP {
		b.WriteString("allow 127.0.0.1\nbindaddress 127.0.0.1\n")
	}
	if !l.opts.NoUpstream {
		fmt.Fprintf(&b, "server 127.0.0.1 port %d minpoll -2 maxpoll -2 iburst", l.ntpPort)
		if l.opts.SourceOffset != 0 {
			fmt.Fprintf(&b, " offset %g", l.opts.SourceOffset)
		}
		b.WriteString("\n")
	}
	if l.opts.Refclock {
		fmt.Fprintf(&b, "refclock SOCK %s refid PHC0 poll -2 precision 1e-7", l.refclockSocket())
		if !l.opts.NoUpstream {
			// Selectable, but the NTP source stays the one tests reason about.
			b.WriteString(" noselect")
		}
		b.WriteString("\n")
	}
	for i := range l.opts.ExtraSources {
		// Loopback only, port 9 (discard): nothing answers, nothing leaves.
		fmt.Fprintf(&b, "server 127.1.%d.%d port 9 minpoll 12 noselect\n", i/250, i%250+1)
	}
	fmt.Fprintf(&b, "driftfile %s/client.drift\n", l.RunDir())
	l.client = l.run("chronyd", b.String(), true)
	l.waitFor(func() bool { _, err := os.Stat(l.SocketPath()); return err == nil }, 10*time.Second, "chronyd's command socket")
}

// SignalChronyd sends sig to the chronyd under test (SIGSTOP wedges it).
func (l *Lab) SignalChronyd(sig os.Signal) {
	l.t.Helper()
	if l.client == nil || l.client.Process == nil {
		l.t.Fatal("chronyd is not running")
	}
	if err := l.client.Process.Signal(sig); err != nil {
		l.t.Fatalf("signal chronyd: %v", err)
	}
}

// KillChronyd kills the chronyd under test at once, as a crash would.
func (l *Lab) KillChronyd() { stop(l.client); l.client = nil }

// Stop ends every daemon of the lab.
func (l *Lab) Stop() {
	if l.feederStop != nil {
		close(l.feederStop)
		<-l.feederDone
		l.feederStop = nil
	}
	stop(l.client)
	stop(l.server)
	l.client, l.server = nil, nil
}

func (l *Lab) run(name, conf string, asUser bool) *exec.Cmd {
	l.t.Helper()
	confPath := filepath.Join(l.dir, name+".conf")
	conf += fmt.Sprintf("pidfile %s/%s.pid\n", l.dir, name)
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		l.t.Fatal(err)
	}
	args := []string{"-n", "-x", "-f", confPath, "-l", filepath.Join(l.dir, name+".log")}
	switch {
	case os.Geteuid() != 0:
		args = append(args, "-U")
	case asUser && l.User != "":
		args = append(args, "-u", l.User)
	}
	cmd := exec.Command(chronyd(l.t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(filepath.Join(l.dir, name+".out"))
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start chronyd (%s): %v", name, err)
	}
	_ = out.Close()
	return cmd
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func (l *Lab) dumpLogs() {
	for _, name := range []string{"server", "chronyd"} {
		for _, ext := range []string{".conf", ".log", ".out"} {
			if b, err := os.ReadFile(filepath.Join(l.dir, name+ext)); err == nil && len(b) > 0 {
				l.t.Logf("--- %s%s ---\n%s", name, ext, b)
			}
		}
	}
}

func (l *Lab) waitFor(cond func() bool, timeout time.Duration, what string) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitSynced waits until chronyd has selected a source and made a few clock
// updates, so the statistics have settled.
func (l *Lab) WaitSynced() {
	l.t.Helper()
	l.waitFor(func() bool {
		tr, err := l.TrackingReport()
		return err == nil && tr.Leap == "Normal" && tr.RefID != "00000000"
	}, 30*time.Second, "chronyd to synchronise")
	time.Sleep(1500 * time.Millisecond)
}

// Chronyc runs `chronyc -c -n` against the lab over UDP and returns its CSV rows.
func (l *Lab) Chronyc(args ...string) ([][]string, error) {
	return l.chronyc(append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(l.CmdPort)}, args...)...)
}

// ChronycUnix is Chronyc over the unix socket (needed for serverstats).
func (l *Lab) ChronycUnix(args ...string) ([][]string, error) {
	return l.chronyc(append([]string{"-h", l.SocketPath()}, args...)...)
}

func (l *Lab) chronyc(args ...string) ([][]string, error) {
	cmd := exec.Command(testkit.Program(l.t, "chronyc"), append([]string{"-c", "-n"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("chronyc %v: %w: %s", args, err, ee.Stderr)
		}
		return nil, fmt.Errorf("chronyc %v: %w", args, err)
	}
	var rows [][]string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			rows = append(rows, strings.Split(line, ","))
		}
	}
	return rows, nil
}

// startFeeder sends PHC0 samples to chronyd's SOCK refclock: struct
// sock_sample from chrony's refclock_sock.c, in host byte order.
func (l *Lab) startFeeder() {
	l.feederStop, l.feederDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.feederDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var conn *net.UnixConn
		defer func() {
			if conn != nil {
				_ = conn.Close()
			}
		}()
		for {
			select {
			case <-l.feederStop:
				return
			case <-tick.C:
			}
			if conn == nil {
				c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: l.refclockSocket(), Net: "unixgram"})
				if err != nil {
					continue // chronyd has not created it yet
				}
				conn = c
			}
			if _, err := conn.Write(sockSample(time.Now(), 0)); err != nil {
				_ = conn.Close()
				conn = nil
			}
		}
	}()
}

const sockMagic = 0x534f434b

func sockSample(now time.Time, offset float64) []byte {
	b := make([]byte, 40)
	ne := binary.NativeEndian
	ne.PutUint64(b[0:], uint64(now.Unix()))
	ne.PutUint64(b[8:], uint64(now.Nanosecond()/1000))
	ne.PutUint64(b[16:], math.Float64bits(offset))
	// pulse, leap and padding stay 0.
	ne.PutUint32(b[36:], sockMagic)
	return b
}
