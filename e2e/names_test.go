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

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/chronylab"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var promName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// Every metric family the real Prometheus exporter serves, with every metric
// of the receiver switched on (serverstats, the seed's series, per-source
// detail and the cross-check), has a clean Prometheus name, and the list is a
// golden file: a unit or name change cannot rename a series silently.
func TestPrometheusNamesCleanAndStable(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	prom := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	// Metric names have dots, which --set splits on: a second configuration
	// file switches them on, merged over the shipped one.
	extra := "receivers:\n  chrony:\n    cross_check:\n      servers: [\"" + lab.NTPServer() + "\"]\n    metrics:\n"
	for _, m := range []string{"chrony.clock_error_ms", "chrony.server.ntp.packets", "chrony.server.command.packets", "chrony.server.nts_ke.connections",
		"chrony.server.ntp.authenticated_packets", "chrony.server.ntp.interleaved_packets", "chrony.server.log.drops"} {
		extra += "      " + m + ":\n        enabled: true\n"
	}
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
