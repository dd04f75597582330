package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// `make run`, the README's first command: it reads a chronyd (this machine's,
// or a lab one it starts), says where the metrics are, shows scrapes coming
// in, and on Ctrl-C stops everything it started and removes its files.
func TestMakeRun(t *testing.T) {
	otelcolBinary(t)
	testkit.Program(t, "chronyd")
	// make run's lab chronyd drops to its own user, which must reach TMPDIR.
	tmp, err := os.MkdirTemp("", "makerun-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cmd := exec.Command(testbin.DevRun(t))
	cmd.Dir = repoPath(t, ".")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PROMETHEUS_ENDPOINT="+prom,
		"HEALTH_CHECK_ENDPOINT=127.0.0.1:"+strconv.Itoa(freeTCPPort(t)),
		"TELEMETRY_PORT="+strconv.Itoa(freeTCPPort(t)), "CHRONY_COLLECTION_INTERVAL=1s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("make run printed:\n%s", output())
		}
	})
	waitFor(t, 120*time.Second, "make run to print where the metrics are", func() bool {
		return strings.Contains(output(), "http://"+prom+"/metrics")
	})
	waitFor(t, 60*time.Second, "the bound on "+prom, func() bool {
		return regexp.MustCompile(`(?m)^ntp_time_max_error_seconds\{.*\} \d`).MatchString(fetch(t, "http://"+prom+"/metrics"))
	})
	// One readable line per scrape, and no JSON log lines.
	perScrape := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  synchronised to \S+ \(stratum \d+\), max error [0-9.]+[µnm]?s, system time -?[0-9.]+[µnm]?s, \d+ sources$`)
	waitFor(t, 30*time.Second, "a line per scrape", func() bool {
		return len(perScrape.FindAllString(output(), -1)) >= 2
	})
	if strings.Contains(output(), `{"`) {
		t.Errorf("make run printed JSON:\n%s", output())
	}
	lab := strings.Contains(output(), "starting a lab chronyd")
	t.Logf("make run read %s", map[bool]string{true: "a lab chronyd it started", false: "this machine's chronyd"}[lab])

	// Ctrl-C.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { <-done; exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("make run did not stop on Ctrl-C:\n%s", output())
	}
	if !strings.Contains(output(), "run: stopping") {
		t.Errorf("no word of stopping:\n%s", output())
	}
	// Nothing it started is left: no process in its group, no temporary file.
	if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
		t.Error("processes of make run are still running after Ctrl-C")
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	if fetch(t, "http://"+prom+"/metrics") != "" {
		t.Error("the collector still answers after Ctrl-C")
	}
}
