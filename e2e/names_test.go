package e2e

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var promName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// everyMetric is a configuration, merged over a shipped one, that switches
// on every metric of the receiver: serverstats, the sidecar's series,
// per-source detail and the cross-check against lab's NTP server. Metric
// names have dots, which --set splits on, hence a file.
func everyMetric(lab *chronylab.Lab) string {
	extra := "receivers:\n  chrony:\n    per_source_metrics: true\n    cross_check:\n      servers: [\"" + lab.NTPServer() + "\"]\n    metrics:\n"
	for _, m := range []string{"chrony.clock_error_ms", "chrony.server.ntp.packets", "chrony.server.command.packets", "chrony.server.nts_ke.connections",
		"chrony.server.ntp.authenticated_packets", "chrony.server.ntp.interleaved_packets", "chrony.server.log.drops"} {
		extra += "      " + m + ":\n        enabled: true\n"
	}
	return extra
}

// Every metric family the real Prometheus exporter serves, with every metric
// of the receiver switched on (serverstats, the sidecar's series, per-source
// detail and the cross-check), has a clean Prometheus name, and the list is a
// golden file: a unit or name change cannot rename a series silently.
func TestPrometheusNamesCleanAndStable(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	extra := everyMetric(lab)
	extraPath := filepath.Join(t.TempDir(), "all-metrics.yaml")
	if err := os.WriteFile(extraPath, []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config=" + extraPath}
	env := []string{"PROMETHEUS_ENDPOINT=" + prom, "HEALTH_CHECK_ENDPOINT=" + health, "TELEMETRY_PORT=" + strconv.Itoa(freeTCPPort(t)),
		"CHRONY_COLLECTION_INTERVAL=1s", "CHRONY_ENDPOINT=" + lab.UnixEndpoint()}
	col := runCollector(t, "deploy/config/local.yaml", env, args, prom, health)

	var families []string
	waitFor(t, 30*time.Second, "every family on /metrics", func() bool {
		families = families[:0]
		for _, line := range strings.Split(fetch(t, "http://"+col.promEndpoint+"/metrics"), "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				families = append(families, strings.Fields(name)[0])
			}
		}
		return slices.Contains(families, "ntp_cross_check_consistent") && slices.Contains(families, "chrony_server_log_drops_total") &&
			slices.Contains(families, "ntp_source_estimated_offset_seconds")
	})
	slices.Sort(families)
	for _, f := range families {
		if !promName.MatchString(f) || strings.HasSuffix(f, "_") || strings.Contains(f, "__") {
			t.Errorf("%q is not a clean Prometheus name", f)
		}
	}
	got := strings.Join(families, "\n") + "\n"
	path := repoPath(t, "e2e/testdata/prometheus-names.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("the Prometheus names changed; if on purpose, run (cd e2e && go test -run TestPrometheusNames -update) and say so in the release notes:\n%s", got)
	}
}

// The node build's exporter serves exactly what the contrib Prometheus
// exporter serves: the same families, HELP, TYPE, label sets, order and
// values, byte for byte, for every metric of the receiver switched on (the
// sidecar's series, serverstats, per-source detail, the cross-check) on a real
// chronyd. Both exporters sit in one pipeline of one collector, so they see
// the same batches; a page pair is compared once no scrape landed between
// the two pulls.
func TestPrometheusTextMatchesContribExporter(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	lean := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	extra := everyMetric(lab)
	// The same resource labels as the contrib exporter's
	// resource_constant_labels in local.yaml.
	extra += "exporters:\n  prometheustext:\n    endpoint: " + lean + "\n    metric_expiration: 2m\n    resource_labels: [k8s.node.name, k8s.cluster.name]\n" +
		"service:\n  pipelines:\n    metrics:\n      exporters: [prometheus, prometheustext]\n"
	extraPath := filepath.Join(t.TempDir(), "both-exporters.yaml")
	if err := os.WriteFile(extraPath, []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PROMETHEUS_ENDPOINT=" + prom, "HEALTH_CHECK_ENDPOINT=" + health, "TELEMETRY_PORT=" + strconv.Itoa(freeTCPPort(t)),
		"CHRONY_COLLECTION_INTERVAL=2s", "CHRONY_ENDPOINT=" + lab.UnixEndpoint(),
		"K8S_NODE_NAME=node-1", "K8S_CLUSTER_NAME=cluster-1", "COMPLIANCE_PROFILE=mifid_ii_hft"}
	col := runCollector(t, "deploy/config/local.yaml", env, []string{"--config=" + extraPath}, prom, health)
	complete := func(page string) bool {
		return strings.Contains(page, "ntp_cross_check_consistent") && strings.Contains(page, "chrony_server_log_drops_total") &&
			strings.Contains(page, "ntp_source_estimated_offset_seconds") && strings.Contains(page, `k8s_node_name="node-1"`)
	}
	var contrib, ours string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		contrib = fetch(t, "http://"+col.promEndpoint+"/metrics")
		ours = fetch(t, "http://"+lean+"/metrics")
		if complete(ours) && contrib == ours {
			break
		}
	}
	if !complete(ours) || contrib != ours {
		c, o := strings.Split(contrib, "\n"), strings.Split(ours, "\n")
		for i := range max(len(c), len(o)) {
			if i >= len(c) || i >= len(o) || c[i] != o[i] {
				t.Fatalf("the pages differ from line %d (complete: %v):\ncontrib:        %q\nprometheustext: %q", i+1, complete(ours), c[min(i, len(c)-1)], o[min(i, len(o)-1)])
			}
		}
	}
	if n := strings.Count(ours, "# TYPE "); n < 40 {
		t.Errorf("only %d families compared:\n%s", n, ours)
	}
}
