package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// shippedConfigs are the collector configurations this repository ships; the
// Helm values yield the same as the kubernetes ones (deploy's tests compare
// them).
var shippedConfigs = []struct {
	path string
	pull bool // serves /metrics itself; otherwise a Prometheus exporter is swapped in to count
}{
	{"deploy/config/local.yaml", true},
	{"deploy/config/remote-write.yaml", false},
	{"deploy/config/remote-write-bearer.yaml", false},
	{"deploy/config/otlp-grpc.yaml", false},
	{"deploy/config/otlp-http.yaml", false},
	{"deploy/config/seed-compat.yaml", true},
	{daemonSetConfig, true},
	{"deploy/kubernetes/overlays/remote-write/remote-write.yaml", false},
}

// samplesPerMonth is what one series costs in a 30-day month at the shipped
// 30 s interval.
const samplesPerMonth = 30 * 24 * 3600 / 30

// Series a user pays for, per node and shipped configuration, on an AKS-like
// node (chronyd following one PTP refclock), by default and with the
// per-source detail switched on. The counts are a golden file, so a default
// cannot creep up unnoticed, and the README and deploy/README.md show them
// with what they cost in samples per month.
func TestSeriesPerNode(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{Refclock: true, NoUpstream: true})
	lab.WaitSynced()
	counts := make([][2]int, len(shippedConfigs))
	t.Run("count", func(t *testing.T) {
		for i, c := range shippedConfigs {
			for j, perSource := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/per_source=%v", filepath.Base(c.path), perSource), func(t *testing.T) {
					t.Parallel()
					counts[i][j] = countSeries(t, lab, c.path, c.pull, perSource)
				})
			}
		}
	})
	var rows []string
	for i, c := range shippedConfigs {
		n := counts[i]
		rows = append(rows, fmt.Sprintf("| `%s` | %d | %s | %d | %s |", c.path, n[0], thousands(n[0]*samplesPerMonth), n[1], thousands(n[1]*samplesPerMonth)))
	}
	table := "| Configuration | Series per node | Samples per node per month at 30 s | With `per_source_metrics` | Samples per month |\n| --- | --- | --- | --- | --- |\n" +
		strings.Join(rows, "\n") + "\n"
	golden := repoPath(t, "e2e/testdata/series-per-node.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, doc := range []string{"README.md", "deploy/README.md"} {
			replaceBlock(t, repoPath(t, doc), table)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != table {
		t.Errorf("series per node changed; if on purpose, run (cd e2e && go test -run TestSeriesPerNode -update):\n%s", table)
	}
	for _, doc := range []string{"README.md", "deploy/README.md"} {
		b, err := os.ReadFile(repoPath(t, doc))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), seriesBegin+"\n"+table+seriesEnd) {
			t.Errorf("%s does not show the series table of %s", doc, golden)
		}
	}
}

const seriesBegin, seriesEnd = "<!-- series:begin -->", "<!-- series:end -->"

func replaceBlock(t *testing.T, path, table string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)` + regexp.QuoteMeta(seriesBegin) + `.*?` + regexp.QuoteMeta(seriesEnd))
	if !re.Match(b) {
		t.Fatalf("%s has no %s ... %s block", path, seriesBegin, seriesEnd)
	}
	out := re.ReplaceAllLiteral(b, []byte(seriesBegin+"\n"+table+seriesEnd))
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// countSeries runs the collector with config against lab and counts the
// series on /metrics once two scrapes in a row give the same count.
func countSeries(t *testing.T, lab *chronylab.Lab, config string, pull, perSource bool) int {
	t.Helper()
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	env := []string{"PROMETHEUS_ENDPOINT=" + prom, "HEALTH_CHECK_ENDPOINT=" + health, "TELEMETRY_PORT=" + strconv.Itoa(freeTCPPort(t)),
		"CHRONY_ENDPOINT=" + lab.UnixEndpoint(), "CHRONY_PER_SOURCE_METRICS=" + strconv.FormatBool(perSource),
		"K8S_NODE_NAME=node", "K8S_CLUSTER_NAME=cluster", "COMPLIANCE_PROFILE=mifid_ii_algo", "MY_POD_IP=127.0.0.1",
		"REMOTE_WRITE_URL=http://127.0.0.1:9/api/v1/write", "OTLP_ENDPOINT=http://127.0.0.1:9"}
	args := []string{"--set=receivers::chrony::collection_interval=1s", "--set=receivers::chrony::initial_delay=0s",
		"--set=service::telemetry::metrics::level=none"}
	args = append(args, healthArgs(t, config, health)...)
	if pull {
		args = append(args, promEndpointArg(config, prom))
	} else {
		// Count what the push exporter would send: the same pipeline into a
		// Prometheus exporter instead (with no scope labels, as the shipped
		// push exporters send none).
		extra := filepath.Join(t.TempDir(), "count.yaml")
		if err := os.WriteFile(extra, fmt.Appendf(nil, "exporters:\n  prometheus/count:\n    endpoint: %s\n    without_scope_info: true\n    resource_constant_labels:\n      included: [k8s.node.name, k8s.cluster.name, compliance.profile]\nservice:\n  pipelines:\n    metrics:\n      exporters: [prometheus/count]\n", prom), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config="+extra)
	}
	col := runCollector(t, config, env, args, prom, health)
	defer col.stop()
	last, stable := -1, 0
	var page string
	waitFor(t, 30*time.Second, config+": a stable series count", func() bool {
		page = fetch(t, "http://"+prom+"/metrics")
		if !strings.Contains(page, "ntp_time_max_error_seconds") || (perSource && !strings.Contains(page, "ntp_source_samples")) {
			return false
		}
		n := 0
		for _, line := range strings.Split(page, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				n++
			}
		}
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
		time.Sleep(300 * time.Millisecond)
		return stable >= 2
	})
	return last
}

// healthArgs moves a configuration's health checks to free loopback ports:
// the DaemonSet's readiness extension, the remote-write DaemonSet's two
// contrib health checks (with the flag it passes), or the legacy one of the
// other shipped configurations.
func healthArgs(t *testing.T, config, health string) []string {
	t.Helper()
	raw, err := os.ReadFile(repoPath(t, config))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case config == daemonSetConfig:
		return testbin.NodeHealthArgs(health)
	case strings.Contains(string(raw), "health_check/live"):
		return testbin.FullHealthArgs(health, fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)))
	}
	return []string{"--set=extensions::health_check::endpoint=" + health}
}
