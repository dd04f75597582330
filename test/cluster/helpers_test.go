package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// repoRoot is the repository, two levels above this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// require fails the test when CI=true, where CI provides everything, and
// skips it elsewhere, saying what is missing and how to get it.
func require(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	testkit.Unavailable(t, fmt.Sprintf(format, args...), "make test-cluster installs and builds what it needs")
}

func lookPath(prog string) string {
	for _, p := range []string{prog, "/usr/sbin/" + prog, "/usr/bin/" + prog, "/sbin/" + prog} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// waitUntil polls cond every interval until it returns nil or timeout
// passes, then fails the test with cond's last error and what describe says.
func waitUntil(t *testing.T, timeout, interval time.Duration, what string, cond func() error, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s: not so after %s: %v", what, timeout, err)
			if describe != nil {
				msg += "\n" + describe()
			}
			t.Fatal(msg)
		}
		time.Sleep(interval)
	}
}

// prometheus is a Prometheus server on the host, on loopback, scraping the
// targets every scrapeInterval and accepting remote write.
type prometheus struct {
	url string
	cmd *exec.Cmd
	dir string
}

const scrapeInterval = 5 * time.Second

// startPrometheus listens on host, an address of this machine; the targets
// come from a file setTargets rewrites.
func startPrometheus(t *testing.T, host string, targets ...string) *prometheus {
	t.Helper()
	bin := lookPath("prometheus")
	require(t, bin != "", "prometheus is not installed (scripts/install-deps.sh prometheus)")
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", scrapeInterval, scrapeInterval)
	fmt.Fprintf(&conf, "  - job_name: otelcol-chrony\n    file_sd_configs:\n      - files: [%s]\n", filepath.Join(dir, "targets.json"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{dir: dir}
	p.setTargets(t, targets...)
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--web.enable-remote-write-receiver", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	p.url, p.cmd = "http://"+addr, cmd
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	waitUntil(t, 30*time.Second, 200*time.Millisecond, "Prometheus ready", func() error {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}, func() string { b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log")); return string(b) })
	return p
}

// setTargets replaces what Prometheus scrapes; it notices the file change.
func (p *prometheus) setTargets(t *testing.T, targets ...string) {
	t.Helper()
	b, err := json.Marshal([]map[string][]string{{"targets": targets}})
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(p.dir, "targets.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "targets.json")); err != nil {
		t.Fatal(err)
	}
}

type sample struct {
	Labels map[string]string
	Time   time.Time
	Value  float64
}

// query runs an instant query.
func (p *prometheus) query(promql string) ([]sample, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(promql))
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", promql, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %s: %w: %s", promql, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", promql, r.Error)
	}
	var out []sample
	for _, res := range r.Data.Result {
		ts, _ := res.Value[0].(float64)
		vs, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q: %w", promql, vs, err)
		}
		out = append(out, sample{Labels: res.Metric, Time: time.Unix(0, int64(ts*1e9)), Value: v})
	}
	return out, nil
}

// rangeQuery returns the raw samples of a range selector, e.g. chrony_up[5m].
func (p *prometheus) rangeSamples(promql string) ([]float64, []time.Time, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(promql))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("query %s: %w: %s", promql, err, body)
	}
	if r.Status != "success" {
		return nil, nil, fmt.Errorf("query %s: %s", promql, r.Error)
	}
	var vals []float64
	var times []time.Time
	for _, res := range r.Data.Result {
		for _, v := range res.Values {
			ts, _ := v[0].(float64)
			vs, _ := v[1].(string)
			f, _ := strconv.ParseFloat(vs, 64)
			vals = append(vals, f)
			times = append(times, time.Unix(0, int64(ts*1e9)))
		}
	}
	return vals, times, nil
}

// one waits until promql returns exactly one sample satisfying check.
func (p *prometheus) one(t *testing.T, timeout time.Duration, promql string, check func(sample) error, describe func() string) sample {
	t.Helper()
	var got sample
	waitUntil(t, timeout, time.Second, "Prometheus: "+promql, func() error {
		s, err := p.query(promql)
		if err != nil {
			return err
		}
		if len(s) != 1 {
			return fmt.Errorf("%d series: %v", len(s), s)
		}
		got = s[0]
		if check != nil {
			return check(got)
		}
		return nil
	}, describe)
	return got
}

func (p *prometheus) targets() string {
	resp, err := http.Get(p.url + "/api/v1/targets")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return "Prometheus targets: " + string(b)
}

func mustContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
