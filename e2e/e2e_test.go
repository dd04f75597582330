package e2e

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// frozenLab is a synchronised lab chronyd whose upstream has been stopped, so
// its report no longer changes but for what chronyd extrapolates with time.
func frozenLab(t *testing.T) *chronylab.Lab {
	t.Helper()
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	lab.StopServer()
	return lab
}

// checkAgainstChronyc compares what Prometheus holds for selector with what
// chronyc says now. The lab is frozen; only System time and root dispersion
// move, at most at (|frequency| + skew + |residual| + maxclockerror) for the
// age of the sample.
func checkAgainstChronyc(t *testing.T, prom *prometheusServer, lab *chronylab.Lab, selector string) {
	t.Helper()
	// Wait for samples taken after the freeze.
	time.Sleep(4 * time.Second)
	tr, err := lab.TrackingReport()
	if err != nil {
		t.Fatal(err)
	}
	src, err := lab.Sources()
	if err != nil {
		t.Fatal(err)
	}
	const secRound = 0.5e-9 + 1e-15
	rate := (math.Abs(tr.Frequency) + tr.Skew + math.Abs(tr.ResidualFrequency) + 1.01) * 1e-6

	exact := []struct {
		metric string
		want   float64
		tol    float64
	}{
		{"ntp_stratum", tr.Stratum, 0},
		{"ntp_time_last_offset_seconds", tr.LastOffset, secRound},
		{"ntp_time_rms_offset_seconds", tr.RMSOffset, secRound},
		{"ntp_time_root_delay_seconds", tr.RootDelay, secRound},
		{"chrony_up", 1, 0},
	}
	for _, c := range exact {
		got := prom.one(t, c.metric+selector)
		if math.Abs(got.Value-c.want) > c.tol {
			t.Errorf("%s = %.12g in Prometheus, chronyc says %.12g", c.metric, got.Value, c.want)
		}
	}

	maxErr := prom.one(t, "ntp_time_max_error_seconds"+selector)
	age := time.Since(maxErr.Time).Seconds() + 2 // + the collector's interval and the scrape's
	want := math.Abs(tr.SystemTime) + tr.RootDispersion + tr.RootDelay/2
	// |System time| moves at the frequency offset, either way; root
	// dispersion only grows.
	if diff := want - maxErr.Value; math.Abs(diff) > rate*age+3*secRound {
		t.Errorf("ntp_time_max_error_seconds = %.12g in Prometheus, chronyc's numbers give %.12g now (sample %.1fs old)", maxErr.Value, want, age)
	}

	// Per source: the one upstream, by its configured name.
	s := src[0]
	name := fmt.Sprintf(`source_name=%q`, s.Name)
	withName := func(metric string) string {
		if selector == "" {
			return metric + "{" + name + "}"
		}
		return metric + strings.TrimSuffix(selector, "}") + "," + name + "}"
	}
	perSource := []struct {
		metric string
		want   float64
		tol    float64
	}{
		{"ntp_source_stratum", s.Stratum, 0},
		{"ntp_source_poll_interval_seconds", math.Ldexp(1, s.Poll), 0},
		{"ntp_source_offset_seconds", s.Offset, secRound},
		{"ntp_source_offset_error_seconds", s.Error, secRound},
	}
	for _, c := range perSource {
		got := prom.one(t, withName(c.metric))
		if math.Abs(got.Value-c.want) > c.tol {
			t.Errorf("%s = %.12g in Prometheus, chronyc sources says %.12g", withName(c.metric), got.Value, c.want)
		}
	}
	state := prom.one(t, withName("ntp_source_state")[:len(withName("ntp_source_state"))-1]+`,source_state="sync"}`)
	if (state.Value == 1) != (s.State == "*") {
		t.Errorf("ntp_source_state{sync} = %v, chronyc's state is %q", state.Value, s.State)
	}
}

// 1. Pull: Prometheus scrapes the collector's prometheus exporter.
func TestPullIntoPrometheus(t *testing.T) {
	lab := frozenLab(t)
	col := startCollector(t, "deploy/config/local.yaml", "CHRONY_ENDPOINT="+lab.UnixEndpoint(), "K8S_NODE_NAME=node-pull")
	prom := startPrometheus(t, col.promEndpoint)
	checkAgainstChronyc(t, prom, lab, "")
	// The node name configured in the pipeline arrives as a label.
	prom.one(t, `ntp_time_max_error_seconds{k8s_node_name="node-pull"}`)
}

// 2. Push: the prometheus_remote_write exporter writes into Prometheus.
func TestRemoteWriteIntoPrometheus(t *testing.T) {
	lab := frozenLab(t)
	prom := startPrometheus(t)
	startCollector(t, "deploy/config/remote-write.yaml", "CHRONY_PER_SOURCE_METRICS=true",
		"CHRONY_ENDPOINT="+lab.UDPEndpoint(),
		"REMOTE_WRITE_URL="+prom.url+"/api/v1/write",
		"K8S_NODE_NAME=node-push", "K8S_CLUSTER_NAME=cluster-e2e")
	checkAgainstChronyc(t, prom, lab, `{k8s_node_name="node-push",k8s_cluster_name="cluster-e2e"}`)
}

// 3. The sidecar's exact series: chrony_clock_error_ms, its formula in ms, and
// no labels but those the scrape adds.
func TestSeedCompatibleSeries(t *testing.T) {
	lab := frozenLab(t)
	col := startCollector(t, "deploy/config/seed-compat.yaml", "CHRONY_ENDPOINT="+lab.UnixEndpoint())
	prom := startPrometheus(t, col.promEndpoint)
	got := prom.one(t, "chrony_clock_error_ms")
	var keys []string
	for k := range got.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "__name__,instance,job" {
		t.Errorf("chrony_clock_error_ms has labels %v, want only those the scrape adds", got.Labels)
	}
	diff := prom.one(t, "chrony_clock_error_ms - 1000 * ntp_time_clock_error_seconds")
	if math.Abs(diff.Value) > 1e-9 {
		t.Errorf("chrony_clock_error_ms differs from ntp_time_clock_error_seconds in ms by %g", diff.Value)
	}
	tr, err := lab.TrackingReport()
	if err != nil {
		t.Fatal(err)
	}
	seed := (math.Abs(tr.LastOffset) + tr.RootDispersion + tr.RootDelay/2) * 1000
	got = prom.one(t, "chrony_clock_error_ms")
	// Root dispersion grows between the sample and chronyc's read.
	if d := seed - got.Value; d < -1e-6 || d > 0.05 {
		t.Errorf("chrony_clock_error_ms = %.9f, the sidecar's formula on chronyc's numbers gives %.9f", got.Value, seed)
	}
}

// 4a. The remote-write backend goes away and comes back: the collector keeps
// running and retrying, and samples taken after the recovery arrive.
func TestRemoteWriteBackendOutage(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	prom := startPrometheus(t)
	col := startCollector(t, "deploy/config/remote-write.yaml",
		"CHRONY_ENDPOINT="+lab.UDPEndpoint(),
		"REMOTE_WRITE_URL="+prom.url+"/api/v1/write",
		"K8S_NODE_NAME=node-outage", "K8S_CLUSTER_NAME=cluster-e2e")
	const series = `chrony_up{k8s_node_name="node-outage"}`
	prom.one(t, series)

	prom.stop()
	down := time.Now()
	time.Sleep(6 * time.Second)
	if !col.alive() {
		t.Fatal("the collector exited while the backend was down")
	}
	prom.restart(t)
	up := time.Now()
	waitFor(t, 60*time.Second, "samples taken after the backend came back", func() bool {
		s := prom.query(t, "timestamp("+series+")")
		return len(s) == 1 && s[0].Value > float64(up.Unix())
	})
	// What was queued during the outage is retried too.
	during := prom.query(t, fmt.Sprintf("count_over_time(%s[%ds])", series, int(time.Since(down).Seconds())))
	if len(during) == 1 {
		t.Logf("%v samples since the outage began (interval 1s, outage %.0fs)", during[0].Value, up.Sub(down).Seconds())
	}
	if !col.alive() {
		t.Fatal("the collector exited")
	}
}

// 4b. chronyd killed and restarted: the collector keeps running, chrony_up
// goes to 0 and back to 1, and the tracking series leave /metrics in the same
// scrape that says chrony_up 0: the receiver marks them stale, so a stale
// bound never stands beside chrony_up 0, however long metric_expiration is.
func TestChronydKilledAndRestarted(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	col := startCollector(t, "deploy/config/local.yaml", "CHRONY_ENDPOINT="+lab.UnixEndpoint(), "METRIC_EXPIRATION=10m", "CHRONY_COLLECTION_INTERVAL=1s")
	prom := startPrometheus(t, col.promEndpoint)
	waitFor(t, 30*time.Second, "chrony_up 1", func() bool { s := prom.query(t, "chrony_up"); return len(s) == 1 && s[0].Value == 1 })

	lab.KillChronyd()
	waitFor(t, 30*time.Second, "chrony_up 0 on /metrics", func() bool {
		page := fetch(t, "http://"+col.promEndpoint+"/metrics")
		if !regexp.MustCompile(`(?m)^chrony_up(\{[^}]*\})? 0$`).MatchString(page) {
			return false
		}
		for _, family := range []string{"ntp_time_max_error_seconds", "ntp_sync_state", "ntp_time_correction_seconds", "ntp_source_offset_seconds"} {
			if strings.Contains(page, family) {
				t.Fatalf("/metrics says chrony_up 0 and still has %s:\n%s", family, page)
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "chrony_up 0", func() bool { s := prom.query(t, "chrony_up"); return len(s) == 1 && s[0].Value == 0 })
	if !col.alive() {
		t.Fatal("the collector exited when chronyd died")
	}

	lab.StartChronyd()
	waitFor(t, 60*time.Second, "chrony_up 1 again", func() bool { s := prom.query(t, "chrony_up"); return len(s) == 1 && s[0].Value == 1 })
	waitFor(t, 30*time.Second, "tracking series again", func() bool {
		return strings.Contains(fetch(t, "http://"+col.promEndpoint+"/metrics"), "ntp_time_max_error_seconds")
	})
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// 5. Every collector configuration shipped in the repository validates; a
// broken one fails with a message that names the problem.
func TestShippedConfigsValidate(t *testing.T) {
	bin := otelcolBinary(t)
	var configs []string
	err := filepath.WalkDir(repoPath(t, "deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Collector configurations, not Kubernetes manifests or rule files.
		if strings.Contains(string(b), "\nreceivers:") && strings.Contains(string(b), "\nservice:") && !strings.Contains(string(b), "apiVersion:") {
			configs = append(configs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) < 3 {
		t.Fatalf("found only %d collector configurations under deploy/: %v", len(configs), configs)
	}
	for _, c := range configs {
		rel, _ := filepath.Rel(repoPath(t, "."), c)
		t.Run(rel, func(t *testing.T) {
			bin := binaryFor(t, filepath.ToSlash(rel))
			if out, err := testbin.ValidateWith(t, bin, c); err != nil {
				t.Errorf("%s validate %s: %v\n%s", filepath.Base(bin), rel, err, out)
			}
		})
	}

	broken := []struct {
		name, from, to, want string
	}{
		{"unknown scheme", "${env:CHRONY_ENDPOINT:-}", "tcp://127.0.0.1:323", `unknown scheme "tcp"`},
		{"misspelt key", "collection_interval:", "colection_interval:", "colection_interval"},
		{"zero timeout", "collection_interval: ${env:CHRONY_COLLECTION_INTERVAL:-10s}", "collection_interval: 10s\n    timeout: 0s", "timeout: 0s would let a wedged chronyd"},
	}
	local, err := os.ReadFile(repoPath(t, "deploy/config/local.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Run("broken/"+b.name, func(t *testing.T) {
			if !strings.Contains(string(local), b.from) {
				t.Fatalf("local.yaml has no %q to break", b.from)
			}
			path := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(local), b.from, b.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "validate", "--config="+path).CombinedOutput()
			if err == nil {
				t.Fatalf("a broken configuration validated:\n%s", out)
			}
			if !strings.Contains(string(out), b.want) || !strings.Contains(string(out), "chrony") {
				t.Errorf("the error does not say %q about the chrony receiver:\n%s", b.want, out)
			}
		})
	}
}
