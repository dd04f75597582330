package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// firstSample is the time of the first sample of selector in Prometheus in
// the span ending at end, and whether all its values are want.
func firstSample(t *testing.T, p *prometheusServer, selector string, span time.Duration, end time.Time, want float64) (time.Time, bool) {
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
	values := r.Data.Result[0].Values
	all := true
	for _, v := range values {
		if s, _ := v[1].(string); s != strconv.FormatFloat(want, 'f', -1, 64) {
			all = false
		}
	}
	ts, _ := values[0][0].(float64)
	return time.UnixMilli(int64(ts*1000 + 0.5)), all
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
// the tolerance). The summary names the collector's version on both nodes.
// Like every test here it fails under CI=true, and is skipped elsewhere,
// when chronyd, Prometheus or a build is missing.
func TestUTCEvidenceFromLiveCollectors(t *testing.T) {
	t.Parallel()
	const (
		step      = time.Second // the collectors' interval
		period    = 20 * time.Second
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

	// A step ending at e takes its UTC state from the samples at or before
	// e (the 5-minute window reaches back past the period's start).
	steps := int(period / step)
	stepsFrom := func(at time.Time) int { // the steps whose end is at or after at
		n := 0
		for k := 1; k <= steps; k++ {
			if !from.Add(time.Duration(k) * step).Before(at) {
				n++
			}
		}
		return n
	}
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
		firstBound, _ := firstSample(t, prom, "ntp_cross_check_error_bound_seconds"+sel, lookback, to, -1)
		firstConsistent, all := firstSample(t, prom, "ntp_cross_check_consistent"+sel, lookback, to, want)
		if !all {
			t.Errorf("%s: ntp_cross_check_consistent was not %v throughout", node, want)
		}
		wantSteps := map[string]int{"utc_unverified": steps - stepsFrom(firstBound)}
		if node == "node-ahead" {
			wantSteps["utc_inconclusive"] = stepsFrom(firstBound) - stepsFrom(firstConsistent)
			wantSteps["utc_disagrees"] = stepsFrom(firstConsistent)
		} else {
			wantSteps["utc_verified"] = stepsFrom(firstBound)
		}
		t.Logf("%s: first cross-check bound at %s, first consistency at %s: %v steps of %d", node,
			firstBound.Format(time.RFC3339Nano), firstConsistent.Format(time.RFC3339Nano), wantSteps, steps)
		if stepsFrom(firstConsistent) < steps/2 {
			t.Errorf("%s: the first cross-check came %s after the period began; too late for the test to say much", node, firstConsistent.Sub(from))
		}
		for _, st := range []string{"utc_verified", "utc_inconclusive", "utc_unverified", "utc_disagrees"} {
			if got, want := n.UTCSeconds[st], float64(wantSteps[st])*step.Seconds(); got != want {
				t.Errorf("%s: %s %v s, want %v s", node, st, got, want)
			}
		}
		last := n.UTCOutages
		switch node {
		case "node-ahead":
			if len(last) == 0 || last[len(last)-1].Cause != "utc_disagrees" || last[len(last)-1].End != rfc(to) {
				t.Errorf("node-ahead: UTC runs %+v, want the last one utc_disagrees to the end", last)
			}
			if n.Traceable == nil || *n.Traceable != 0 {
				t.Errorf("node-ahead: traceable_within_ratio %v, want 0", deref(n.Traceable))
			}
			if n.WorstUTC == nil || *n.WorstUTC < 0.005 {
				t.Errorf("node-ahead: worst UTC bound %v, want at least the 5 ms", deref(n.WorstUTC))
			}
		case "node-true":
			for _, o := range last {
				if o.Cause != "utc_unverified" || o.Start != rfc(from) {
					t.Errorf("node-true: UTC run %+v; only the steps before the first check may be unverified", o)
				}
			}
			if n.Traceable == nil || *n.Traceable <= 0 {
				t.Errorf("node-true: traceable_within_ratio %v, want above 0", deref(n.Traceable))
			}
			if n.WorstUTC == nil || *n.WorstUTC > tolerance {
				t.Errorf("node-true: worst UTC bound %v, want within %g s", deref(n.WorstUTC), tolerance)
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
