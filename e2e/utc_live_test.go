package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/ntpserver"
)

// distVersion is the version ocb stamps into otelcol-chrony: the builder
// config's dist version.
func distVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^dist:\n(?:[ #].*\n)*?  version: (\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("builder-config.yaml has no dist version")
	}
	return string(m[1])
}

// times formats samples for a log line: the time of day and the value.
func times(samples []sample) string {
	var parts []string
	for _, s := range samples {
		parts = append(parts, s.Time.UTC().Format("15:04:05.000")+"="+strconv.FormatFloat(s.Value, 'g', 4, 64))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// samplesOf are the samples of the one series selector picks in the span
// ending at end, oldest first.
func samplesOf(t *testing.T, p *prometheusServer, selector string, span time.Duration, end time.Time) []sample {
	t.Helper()
	q := fmt.Sprintf("%s[%ds]", selector, int(span.Seconds()))
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q) + "&time=" + strconv.FormatInt(end.Unix(), 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 || len(r.Data.Result[0].Values) == 0 {
		t.Fatalf("query %s: %v: %s", q, err, body)
	}
	var out []sample
	for _, v := range r.Data.Result[0].Values {
		ts, _ := v[0].(float64)
		text, _ := v[1].(string)
		value, err := strconv.ParseFloat(text, 64)
		if err != nil {
			t.Fatalf("query %s: value %q: %v", q, text, err)
		}
		out = append(out, sample{Time: time.UnixMilli(int64(ts*1000 + 0.5)), Value: value})
	}
	return out
}

// utcStateAt is the rule of docs/evidence.md worked out from raw samples:
// the UTC state of the step ending at end, from the cross-check samples in
// (end − window, end], and the step's UTC bound (the smallest in the window).
func utcStateAt(end time.Time, window time.Duration, bounds, consistent []sample, tolerance float64) (string, float64) {
	in := func(s sample) bool { return s.Time.After(end.Add(-window)) && !s.Time.After(end) }
	for _, c := range consistent {
		if in(c) && c.Value == 0 {
			return "utc_disagrees", minBound(bounds, in)
		}
	}
	b := minBound(bounds, in)
	switch {
	case math.IsNaN(b):
		return "utc_unverified", b
	case b <= tolerance:
		return "utc_verified", b
	default:
		return "utc_inconclusive", b
	}
}

func minBound(bounds []sample, in func(sample) bool) float64 {
	low := math.NaN()
	for _, b := range bounds {
		if in(b) && (math.IsNaN(low) || b.Value < low) {
			low = b.Value
		}
	}
	return low
}

// From the collector to the report, with real daemons: a lab chronyd, two
// otelcol-chrony collectors reading it and remote-writing into Debian's
// Prometheus, each cross-checking the lab's clock against one NTP server,
// and chrony-evidence over the period, its step the collection interval.
//   - node-ahead checks against the test kit's NTP server, 5 ms ahead of the
//     lab chronyd's clock: chronyd's microsecond bound and the server cannot
//     both be right, so every step from the first cross-check on is
//     utc_disagrees.
//   - node-true checks against the lab chronyd's own source: every step from
//     the first cross-check on is utc_verified.
//
// Before the first check a step has no cross-check bound (utc_unverified),
// and node-ahead's bound can arrive one scrape before its consistency, its
// sample carrying the time it was measured (utc_inconclusive: 6 ms is above
// the tolerance). A check whose round trip the machine's load stretched past
// the tolerance is utc_inconclusive too, so the expected states are worked
// out from the samples Prometheus holds, and the period holds three checks
// so that node-true is verified by at least one. The summary names the
// collector's version on both nodes.
// Like every test here it fails under CI=true, and is skipped elsewhere,
// when chronyd, Prometheus or a build is missing.
func TestUTCEvidenceFromLiveCollectors(t *testing.T) {
	t.Parallel()
	const (
		step      = time.Second // the collectors' interval
		period    = 40 * time.Second
		tolerance = 1e-3 // mifid_ii_algo's, in seconds; the lab's bound is far below
	)
	lab := chronylab.Start(t, chronylab.Options{})
	ahead := ntpserver.Start(t, ntpserver.Options{Offset: 5 * time.Millisecond})
	lab.WaitSynced()
	prom := startPrometheus(t)

	// The period begins before the collectors start, so that it holds the
	// first cross-check.
	from := time.Now().Truncate(time.Second)
	to := from.Add(period)
	servers := map[string]string{"node-ahead": ahead.Addr(), "node-true": lab.NTPServer()}
	for node, server := range servers {
		// The shortest interval the receiver allows; the first query goes
		// out within 2 s of the start.
		extra := filepath.Join(t.TempDir(), "cross-check.yaml")
		conf := fmt.Sprintf("receivers:\n  chrony:\n    cross_check:\n      servers: [%q]\n      interval: 16s\n", server)
		if err := os.WriteFile(extra, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		health := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
		env := []string{"HEALTH_CHECK_ENDPOINT=" + health, "TELEMETRY_PORT=" + strconv.Itoa(freeTCPPort(t)),
			"CHRONY_COLLECTION_INTERVAL=" + step.String(), "CHRONY_ENDPOINT=" + lab.UDPEndpoint(),
			"REMOTE_WRITE_URL=" + prom.url + "/api/v1/write", "K8S_NODE_NAME=" + node, "K8S_CLUSTER_NAME=cluster-e2e"}
		runCollector(t, "deploy/config/remote-write.yaml", env, []string{"--config=" + extra}, "", health)
	}

	// The harness: what Prometheus holds once the period is over and its
	// last samples have arrived (the batch processor holds them up to 5 s).
	time.Sleep(time.Until(to))
	for node := range servers {
		waitFor(t, 30*time.Second, node+"'s samples up to the end of the period", func() bool {
			s := prom.query(t, fmt.Sprintf(`timestamp(chrony_up{k8s_node_name=%q})`, node))
			return len(s) == 1 && s[0].Value >= float64(to.Unix())
		})
	}
	version := distVersion(t)
	for node, want := range map[string]float64{"node-ahead": 0, "node-true": 1} {
		sel := fmt.Sprintf(`{k8s_node_name=%q,server_address=%q}`, node, servers[node])
		if got := prom.one(t, "ntp_cross_check_consistent"+sel); got.Value != want {
			t.Errorf("%s: ntp_cross_check_consistent %v, want %v", node, got.Value, want)
		}
		info := prom.one(t, fmt.Sprintf(`chrony_collector_info{k8s_node_name=%q}`, node))
		if info.Value != 1 || info.Labels["collector_command"] != "otelcol-chrony" || info.Labels["collector_version"] != version {
			t.Errorf("%s: chrony_collector_info %v %v, want 1 for otelcol-chrony %s", node, info.Labels, info.Value, version)
		}
	}
	lookback := period + 10*time.Second
	if got := prom.query(t, fmt.Sprintf("max(max_over_time(ntp_time_max_error_seconds[%ds] @ %d))", int(lookback.Seconds()), to.Unix())); len(got) != 1 || got[0].Value > tolerance {
		t.Fatalf("the lab chronyd's bound %v is not within the tolerance of %g s", got, tolerance)
	}

	r := runEvidence(t, "--prometheus", prom.url, "--from", rfc(from), "--to", rfc(to), "--step", step.String(),
		"--inventory", "none", "--tolerance", "1ms")
	if r.code != 0 {
		t.Fatalf("chrony-evidence exited %d: %s", r.code, r.stderr)
	}
	s := readUTCSummary(t, r.dir)
	if s.Schema != "chrony-evidence/summary/v2" || s.UTCWindowSeconds != 300 {
		t.Errorf("schema %q, UTC window %v s; want v2 and the default 300", s.Schema, s.UTCWindowSeconds)
	}

	// Each step's UTC state and bound, worked out from the raw samples in
	// Prometheus: the report must agree with them exactly. The 5-minute
	// window reaches back past the period's start.
	const window = 5 * time.Minute
	steps := int(period / step)
	byNode := map[string]int{}
	for i, n := range s.Nodes {
		byNode[n.Node] = i
	}
	if len(s.Nodes) != 2 {
		t.Fatalf("nodes %v, want node-ahead and node-true", byNode)
	}
	for node, want := range map[string]float64{"node-ahead": 0, "node-true": 1} {
		i, ok := byNode[node]
		if !ok {
			t.Errorf("no %s in the report", node)
			continue
		}
		n := s.Nodes[i]
		sel := fmt.Sprintf(`{k8s_node_name=%q}`, node)
		span := window + period
		bounds := samplesOf(t, prom, "ntp_cross_check_error_bound_seconds"+sel, span, to)
		consistent := samplesOf(t, prom, "ntp_cross_check_consistent"+sel, span, to)
		for _, c := range consistent {
			if c.Value != want {
				t.Errorf("%s: ntp_cross_check_consistent %v at %s, want %v throughout", node, c.Value, c.Time.Format(time.RFC3339Nano), want)
			}
		}
		if first := consistent[0].Time; first.After(from.Add(period / 2)) {
			t.Errorf("%s: the first cross-check came %s after the period began; too late for the test to say much", node, first.Sub(from))
		}
		wantSteps := map[string]int{}
		worst, worstAt := math.NaN(), ""
		var runs []string // the UTC states' runs, as "state start end"
		for k := 1; k <= steps; k++ {
			end := from.Add(time.Duration(k) * step)
			state, bound := utcStateAt(end, window, bounds, consistent, tolerance)
			wantSteps[state]++
			if !math.IsNaN(bound) && (math.IsNaN(worst) || bound > worst) {
				worst, worstAt = bound, rfc(end.Add(-step)) // a step is named by its start
			}
			last := len(runs) - 1
			if last >= 0 && strings.HasPrefix(runs[last], state+" ") && strings.HasSuffix(runs[last], " "+rfc(end.Add(-step))) {
				runs[last] = strings.TrimSuffix(runs[last], rfc(end.Add(-step))) + rfc(end)
			} else if state != "utc_verified" {
				runs = append(runs, state+" "+rfc(end.Add(-step))+" "+rfc(end))
			}
		}
		t.Logf("%s: period %s to %s, cross-check bounds %v, %d consistency samples: %v steps of %d",
			node, from.Format("15:04:05"), to.Format("15:04:05"), times(bounds), len(consistent), wantSteps, steps)
		for _, st := range []string{"utc_verified", "utc_inconclusive", "utc_unverified", "utc_disagrees"} {
			if got, want := n.UTCSeconds[st], float64(wantSteps[st])*step.Seconds(); got != want {
				t.Errorf("%s: %s %v s, want %v s", node, st, got, want)
			}
		}
		var gotRuns []string
		for _, o := range n.UTCOutages {
			gotRuns = append(gotRuns, o.Cause+" "+o.Start+" "+o.End)
		}
		if fmt.Sprint(gotRuns) != fmt.Sprint(runs) {
			t.Errorf("%s: UTC runs %v, want %v", node, gotRuns, runs)
		}
		if n.WorstUTC == nil || *n.WorstUTC != worst || n.WorstUTCAt != worstAt {
			t.Errorf("%s: worst UTC bound %v at %s, want %v at %s", node, deref(n.WorstUTC), n.WorstUTCAt, worst, worstAt)
		}
		// Traceable steps are the verified ones that were also within.
		if verified := float64(wantSteps["utc_verified"]) / float64(steps); n.Traceable == nil || *n.Traceable > verified+1e-12 {
			t.Errorf("%s: traceable_within_ratio %v, want at most the verified share %v", node, deref(n.Traceable), verified)
		}
		// What the two servers are there to show, whatever the machine's load
		// did to a check's round trip.
		switch node {
		case "node-ahead":
			if wantSteps["utc_disagrees"] == 0 || wantSteps["utc_verified"] != 0 || n.Traceable == nil || *n.Traceable != 0 {
				t.Errorf("node-ahead: %v, traceable %v; want it to disagree and never be verified", wantSteps, deref(n.Traceable))
			}
		case "node-true":
			if wantSteps["utc_verified"] == 0 || wantSteps["utc_disagrees"] != 0 || n.Traceable == nil || *n.Traceable <= 0 {
				t.Errorf("node-true: %v, traceable %v; want it verified, traceable and never disagreeing", wantSteps, deref(n.Traceable))
			}
		}
	}
	if c := s.System.Collectors; len(c) != 1 || c[0].Version != version || fmt.Sprint(c[0].Nodes) != "[node-ahead node-true]" {
		t.Errorf("the annex's collectors %+v, want %s on node-ahead and node-true", c, version)
	}
	if t.Failed() {
		raw, _ := os.ReadFile(filepath.Join(r.dir, "summary.json"))
		t.Logf("summary.json:\n%s", raw)
	}
}
