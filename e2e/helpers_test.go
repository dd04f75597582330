// Package e2e runs the built otelcol-chrony binary against a lab chronyd and a
// real Prometheus server (Debian's package), all on loopback.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

func otelcolBinary(t *testing.T) string { return testbin.Otelcol(t) }

// daemonSetConfig is the DaemonSet's configuration; it runs on the lean
// build, otelcol-chrony-node, every other shipped configuration on
// otelcol-chrony.
const daemonSetConfig = "deploy/kubernetes/base/otelcol-chrony.yaml"

func binaryFor(t *testing.T, config string) string {
	t.Helper()
	if config == daemonSetConfig {
		return testbin.Node(t)
	}
	return otelcolBinary(t)
}

// readyURL is where a configuration's health answers 200 once it runs: the
// readiness extension's /ready, or the contrib health check's root.
func readyURL(config, health string) string {
	if config == daemonSetConfig {
		return "http://" + health + "/ready"
	}
	return "http://" + health + "/"
}

// promEndpointArg moves a configuration's Prometheus endpoint to addr.
func promEndpointArg(config, addr string) string {
	if config == daemonSetConfig {
		return "--set=exporters::prometheustext::endpoint=" + addr
	}
	return "--set=exporters::prometheus::endpoint=" + addr
}

func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(testbin.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freeTCPPort(t *testing.T) int { return testkit.FreeTCPPort(t) }

// process is a daemon started by a test, stopped when the test ends; its
// output goes to a file that is shown when the test fails.
type process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string
}

func start(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	_ = out.Close()
	p := &process{t: t, name: name, cmd: cmd, log: log}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dump()
		}
	})
	return p
}

func (p *process) alive() bool {
	return p.cmd.ProcessState == nil && p.cmd.Process.Signal(syscall.Signal(0)) == nil
}

func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *process) dump() {
	b, _ := os.ReadFile(p.log)
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	p.t.Logf("--- %s output ---\n%s", p.name, b)
}

func (p *process) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// collector runs otelcol-chrony with config and the given environment.
type collector struct {
	*process
	promEndpoint string
}

func startCollector(t *testing.T, config string, env ...string) *collector {
	t.Helper()
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	env = append([]string{
		"PROMETHEUS_ENDPOINT=" + prom,
		"HEALTH_CHECK_ENDPOINT=" + health,
		"TELEMETRY_PORT=" + strconv.Itoa(freeTCPPort(t)),
		"CHRONY_COLLECTION_INTERVAL=1s",
	}, env...)
	return runCollector(t, config, env, nil, prom, health)
}

// startDaemonSetCollector runs the DaemonSet's own configuration, with its
// node-IP ports moved to free loopback ports and a 1s interval.
func startDaemonSetCollector(t *testing.T, extra []string, env ...string) *collector {
	t.Helper()
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	set := append(testbin.NodeHealthArgs(health),
		promEndpointArg(daemonSetConfig, prom),
		"--set=receivers::chrony::collection_interval=1s",
		"--set=service::telemetry::metrics::level=none")
	set = append(set, extra...)
	return runCollector(t, daemonSetConfig, append([]string{"MY_POD_IP=127.0.0.1"}, env...), set, prom, health)
}

func runCollector(t *testing.T, config string, env, args []string, prom, health string) *collector {
	t.Helper()
	bin := binaryFor(t, config)
	c := &collector{process: start(t, filepath.Base(bin), env, bin, append([]string{"--config=" + repoPath(t, config)}, args...)...), promEndpoint: prom}
	waitFor(t, 30*time.Second, "the collector's health check", func() bool {
		if !c.alive() {
			t.Fatalf("the collector exited:\n%s", c.output())
		}
		resp, err := http.Get(readyURL(config, health))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// prometheusServer is Debian's Prometheus, scraping targets every second and
// accepting remote write.
type prometheusServer struct {
	*process
	url  string
	args []string
	dir  string
}

func startPrometheus(t *testing.T, targets ...string) *prometheusServer {
	t.Helper()
	return startPrometheusWithRules(t, nil, targets...)
}

// startPrometheusWithRules also loads rule files (paths in the repository),
// their groups evaluated every second instead of every minute.
func startPrometheusWithRules(t *testing.T, ruleFiles []string, targets ...string) *prometheusServer {
	t.Helper()
	bin := testkit.Program(t, "prometheus")
	dir := t.TempDir()
	var conf strings.Builder
	conf.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
	if len(ruleFiles) > 0 {
		conf.WriteString("rule_files:\n")
		for i, rf := range ruleFiles {
			b, err := os.ReadFile(repoPath(t, rf))
			if err != nil {
				t.Fatal(err)
			}
			fast := filepath.Join(dir, fmt.Sprintf("rules-%d.yaml", i))
			if err := os.WriteFile(fast, []byte(strings.ReplaceAll(string(b), "interval: 1m", "interval: 1s")), 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&conf, "  - %s\n", fast)
		}
	}
	conf.WriteString("scrape_configs:\n")
	if len(targets) > 0 {
		fmt.Fprintf(&conf, "  - job_name: otelcol-chrony\n    static_configs:\n      - targets: [%s]\n", strings.Join(targets, ", "))
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	p := &prometheusServer{url: "http://" + addr, dir: dir, args: []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--web.enable-remote-write-receiver",
	}}
	p.process = start(t, "prometheus", nil, bin, p.args...)
	p.waitReady(t)
	return p
}

func (p *prometheusServer) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "Prometheus to be ready", func() bool {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// restart starts Prometheus again on the same address and data directory.
func (p *prometheusServer) restart(t *testing.T) {
	t.Helper()
	p.process = start(t, "prometheus-restarted", nil, p.cmd.Path, p.args...)
	p.waitReady(t)
}

// sample is one element of an instant-query vector.
type sample struct {
	Labels map[string]string
	Time   time.Time
	Value  float64
}

// query runs an instant query and fails the test on an API error.
func (p *prometheusServer) query(t *testing.T, promql string) []sample {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(promql))
	if err != nil {
		t.Fatalf("query %s: %v", promql, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("query %s: %v: %s", promql, err, body)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", promql, r.Error)
	}
	var out []sample
	for _, res := range r.Data.Result {
		ts, _ := res.Value[0].(float64)
		vs, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			t.Fatalf("query %s: value %q: %v", promql, vs, err)
		}
		out = append(out, sample{Labels: res.Metric, Time: time.Unix(0, int64(ts*1e9)), Value: v})
	}
	return out
}

// one waits until promql returns exactly one sample and returns it.
func (p *prometheusServer) one(t *testing.T, promql string) sample {
	t.Helper()
	var got []sample
	waitFor(t, 30*time.Second, "a result for "+promql, func() bool {
		got = p.query(t, promql)
		return len(got) == 1
	})
	return got[0]
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
