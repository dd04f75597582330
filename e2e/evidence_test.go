package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/fleetgen"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// The fleet of the evidence tests: two days, one node per story an auditor
// asks about. Each node's expected figures below are worked out from its
// story, not from the tool.
var (
	evFrom = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	evTo   = evFrom.Add(48 * time.Hour)
)

func at(h, m int) time.Time {
	return evFrom.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func evidenceFleet() fleetgen.Fleet {
	whole := []fleetgen.Window{{Start: evFrom, End: evTo}}
	normal := func(i int) float64 { return 100e-6 + float64(i%97)*2e-6 }
	node := func(name string) fleetgen.Node {
		return fleetgen.Node{Name: name, Cluster: "aks-prod", Profile: "mifid_ii_algo", Inventory: whole, Reporting: whole, Bound: normal, Reference: "aks-host"}
	}
	ok := node("node-a-ok")
	ok.CrossChecks = []fleetgen.CrossCheck{ntp1}
	// kube-state-metrics missed two minutes of scrapes: still in the fleet.
	ok.Inventory = []fleetgen.Window{{Start: evFrom, End: at(1, 0)}, {Start: at(1, 2), End: evTo}}
	breach := node("node-b-breach")
	breach.Breach, breach.BreachBound = []fleetgen.Window{{Start: at(10, 0), End: at(10, 3)}}, 2.5e-3
	// A disagreement across midnight: one run in the two days, two in the
	// daily reports.
	overnight := ntp1
	overnight.Disagree = []fleetgen.Window{{Start: at(23, 50), End: at(24, 10)}}
	overnight.DisagreeOffset, overnight.DisagreeBound = 5e-3, 5.2e-3
	breach.CrossChecks = []fleetgen.CrossCheck{overnight}
	gap := node("node-c-gap")
	gap.Reporting = []fleetgen.Window{{Start: evFrom, End: at(6, 0)}, {Start: at(18, 0), End: evTo}}
	left := node("node-d-left")
	left.Inventory = []fleetgen.Window{{Start: evFrom, End: at(36, 0)}}
	left.Reporting = left.Inventory
	never := node("node-e-never")
	never.Reporting = nil
	unsync := node("node-f-unsync")
	unsync.Unsynchronised = []fleetgen.Window{{Start: at(27, 0), End: at(27, 20)}}
	unreach := node("node-g-unreach")
	unreach.Unreachable = []fleetgen.Window{{Start: at(20, 0), End: at(20, 10)}}
	late := node("node-h-late")
	late.Inventory = []fleetgen.Window{{Start: at(8, 0), End: evTo}}
	late.Reporting = []fleetgen.Window{{Start: at(8, 5), End: evTo}}
	// A Windows pool's node: no chronyd, no collector, not in the fleet.
	windows := node("akswin000000")
	windows.Reporting, windows.OSImage = nil, "Windows Server 2022 Datacenter"
	return fleetgen.Fleet{From: evFrom, To: evTo, Interval: 30 * time.Second, Offset: 7 * time.Second, InventoryOffset: 3 * time.Second,
		Nodes: []fleetgen.Node{ok, breach, gap, left, never, unsync, unreach, late, windows}}
}

// backfilledPrometheus writes the fleet into TSDB blocks with Debian's
// promtool and serves them with Debian's prometheus. Blocks span at most
// 31 days: a year in 2-hour blocks would be 4,380 of them.
func backfilledPrometheus(t *testing.T, fleet fleetgen.Fleet) string {
	t.Helper()
	promtool := testkit.Program(t, "promtool")
	bin := testkit.Program(t, "prometheus")
	dir := t.TempDir()
	om := filepath.Join(dir, "fleet.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.WriteOpenMetrics(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=744h", om, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool create-blocks-from openmetrics: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	p := &prometheusServer{url: "http://" + addr, dir: dir}
	p.process = start(t, "prometheus", nil, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+data, "--storage.tsdb.retention.time=100y", "--web.listen-address="+addr)
	p.waitReady(t)
	// The blocks are loaded when ready; a query proves it.
	reporting := 0
	for _, n := range fleet.Nodes {
		if len(n.Reporting) > 0 {
			reporting++
		}
	}
	span := fleet.To.Sub(fleet.From)
	if got := p.query(t, fmt.Sprintf("count(count_over_time(chrony_up[%ds] @ %d))", int(span.Seconds()), fleet.To.Unix())); len(got) != 1 || got[0].Value != float64(reporting) {
		t.Fatalf("backfilled Prometheus: count of chrony_up series = %v, want %d", got, reporting)
	}
	return p.url
}

type evidenceRun struct {
	dir    string
	stdout string
	stderr string
	code   int
}

func runEvidence(t *testing.T, args ...string) evidenceRun {
	t.Helper()
	return runEvidenceInto(t, filepath.Join(t.TempDir(), "report"), args...)
}

func runEvidenceInto(t *testing.T, out string, args ...string) evidenceRun {
	t.Helper()
	cmd := exec.Command(testbin.Evidence(t), append(args, "--out", out)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return evidenceRun{dir: out, stdout: stdout.String(), stderr: stderr.String(), code: code}
}

type summaryJSON struct {
	Schema           string   `json:"schema"`
	From             string   `json:"from"`
	To               string   `json:"to"`
	ToleranceSeconds float64  `json:"tolerance_seconds"`
	StepSeconds      float64  `json:"step_seconds"`
	Inventory        string   `json:"inventory"`
	Warnings         []string `json:"warnings"`
	Nodes            []struct {
		Node                 string             `json:"node"`
		InFleetSeconds       float64            `json:"in_fleet_seconds"`
		WithinToleranceRatio *float64           `json:"within_tolerance_ratio"`
		NoDataRatio          *float64           `json:"no_data_ratio"`
		Seconds              map[string]float64 `json:"seconds"`
		WorstMaxError        *float64           `json:"worst_max_error_seconds"`
		WorstAt              string             `json:"worst_at"`
		P50                  *float64           `json:"p50_max_error_seconds"`
		P99                  *float64           `json:"p99_max_error_seconds"`
		References           []struct {
			ID, Name string
			Samples  int64
		} `json:"references"`
		Outages []struct{ Start, End, Cause string } `json:"outages"`
	} `json:"nodes"`
	Excluded []struct {
		Node    string `json:"node"`
		OSImage string `json:"os_image"`
	} `json:"excluded_nodes"`
	Fleet struct {
		Nodes            int      `json:"nodes"`
		NodesFullyWithin int      `json:"nodes_fully_within"`
		Breaches         int      `json:"breaches"`
		Outages          int      `json:"outages"`
		UTCOutages       int      `json:"utc_outages"`
		WithinRatio      *float64 `json:"within_tolerance_ratio"`
		WorstNode        string   `json:"worst_node"`
	} `json:"fleet"`
}

func readSummary(t *testing.T, dir string) summaryJSON {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summaryJSON
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

type expectNode struct {
	inFleetSteps int
	steps        map[string]int // steps per state other than within
	worst        float64
	worstAt      time.Time
	outages      [][3]string
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func checkNodes(t *testing.T, s summaryJSON, want map[string]expectNode) {
	t.Helper()
	got := map[string]int{}
	for i, n := range s.Nodes {
		got[n.Node] = i
	}
	if len(got) != len(want) {
		t.Errorf("nodes %v, want %d nodes", got, len(want))
	}
	for name, w := range want {
		i, ok := got[name]
		if !ok {
			t.Errorf("node %s missing from summary.json", name)
			continue
		}
		n := s.Nodes[i]
		if n.InFleetSeconds != float64(w.inFleetSteps*30) {
			t.Errorf("%s: in_fleet_seconds %v, want %d", name, n.InFleetSeconds, w.inFleetSteps*30)
		}
		bad := 0
		for _, st := range []string{"above_tolerance", "unsynchronised", "unreachable", "no_data"} {
			bad += w.steps[st]
			if n.Seconds[st] != float64(w.steps[st]*30) {
				t.Errorf("%s: %s seconds %v, want %d", name, st, n.Seconds[st], w.steps[st]*30)
			}
		}
		within := w.inFleetSteps - bad
		if n.Seconds["within"] != float64(within*30) {
			t.Errorf("%s: within seconds %v, want %d", name, n.Seconds["within"], within*30)
		}
		if wantRatio := float64(within) / float64(w.inFleetSteps); n.WithinToleranceRatio == nil || math.Abs(*n.WithinToleranceRatio-wantRatio) > 1e-12 {
			t.Errorf("%s: within_tolerance_ratio %v, want %v", name, deref(n.WithinToleranceRatio), wantRatio)
		}
		if wantND := float64(w.steps["no_data"]) / float64(w.inFleetSteps); n.NoDataRatio == nil || math.Abs(*n.NoDataRatio-wantND) > 1e-12 {
			t.Errorf("%s: no_data_ratio %v, want %v", name, deref(n.NoDataRatio), wantND)
		}
		if w.worst == 0 {
			if n.WorstMaxError != nil {
				t.Errorf("%s: worst %v, want none", name, *n.WorstMaxError)
			}
		} else if n.WorstMaxError == nil || *n.WorstMaxError != w.worst || n.WorstAt != rfc(w.worstAt) {
			t.Errorf("%s: worst %v at %s, want %v at %s", name, deref(n.WorstMaxError), n.WorstAt, w.worst, rfc(w.worstAt))
		}
		var outages [][3]string
		for _, o := range n.Outages {
			outages = append(outages, [3]string{o.Start, o.End, o.Cause})
		}
		if fmt.Sprint(outages) != fmt.Sprint(w.outages) {
			t.Errorf("%s: outages %v, want %v", name, outages, w.outages)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestEvidenceFromBackfilledPrometheus runs chrony-evidence against a real
// Prometheus holding two days of a fleet shaped as the shipped pipelines
// write it, and checks every figure of every node.
func TestEvidenceFromBackfilledPrometheus(t *testing.T) {
	t.Parallel()
	fleet := evidenceFleet()
	url := backfilledPrometheus(t, fleet)
	const steps = 48 * 120
	window := func(a, b time.Time, cause string) [3]string { return [3]string{rfc(a), rfc(b), cause} }
	okWorstIndex := 96 // the first scrape whose i%97 is 96
	want := map[string]expectNode{
		"node-a-ok":     {inFleetSteps: steps, worst: 100e-6 + 96*2e-6, worstAt: evFrom.Add(time.Duration(okWorstIndex) * 30 * time.Second)},
		"node-b-breach": {inFleetSteps: steps, steps: map[string]int{"above_tolerance": 6}, worst: 2.5e-3, worstAt: at(10, 0), outages: [][3]string{window(at(10, 0), at(10, 3), "above_tolerance")}},
		"node-c-gap":    {inFleetSteps: steps, steps: map[string]int{"no_data": 12 * 120}, worst: 100e-6 + 96*2e-6, worstAt: evFrom.Add(96 * 30 * time.Second), outages: [][3]string{window(at(6, 0), at(18, 0), "no_data")}},
		// In the fleet up to its last inventory sample, 11:59:33 on day 2.
		"node-d-left":    {inFleetSteps: 36 * 120, worst: 100e-6 + 96*2e-6, worstAt: evFrom.Add(96 * 30 * time.Second)},
		"node-e-never":   {inFleetSteps: steps, steps: map[string]int{"no_data": steps}, outages: [][3]string{window(evFrom, evTo, "no_data")}},
		"node-f-unsync":  {inFleetSteps: steps, steps: map[string]int{"unsynchronised": 40}, worst: 100e-6 + 96*2e-6, worstAt: evFrom.Add(96 * 30 * time.Second), outages: [][3]string{window(at(27, 0), at(27, 20), "unsynchronised")}},
		"node-g-unreach": {inFleetSteps: steps, steps: map[string]int{"unreachable": 20}, worst: 100e-6 + 96*2e-6, worstAt: evFrom.Add(96 * 30 * time.Second), outages: [][3]string{window(at(20, 0), at(20, 10), "unreachable")}},
		// In the fleet from its first inventory sample, 08:00:03; reporting
		// from 08:05.
		"node-h-late": {inFleetSteps: 40 * 120, steps: map[string]int{"no_data": 10}, worst: 100e-6 + 96*2e-6, worstAt: at(8, 5).Add(96 * 30 * time.Second), outages: [][3]string{window(at(8, 0), at(8, 5), "no_data")}},
	}
	// node-h's first scrape is number 970 of the period: its worst is the
	// first scrape at or after it whose index modulo 97 is 96.
	first := 970
	for first%97 != 96 {
		first++
	}
	h := want["node-h-late"]
	h.worstAt = evFrom.Add(time.Duration(first) * 30 * time.Second)
	want["node-h-late"] = h

	r := runEvidence(t, "--prometheus", url, "--from", rfc(evFrom), "--to", rfc(evTo), "--profile", "mifid_ii_algo")
	if r.code != 0 {
		t.Fatalf("chrony-evidence exited %d: %s", r.code, r.stderr)
	}
	s := readSummary(t, r.dir)
	if s.Schema != "chrony-evidence/summary/v2" || s.ToleranceSeconds != 1e-3 || s.StepSeconds != 30 || s.From != rfc(evFrom) || s.To != rfc(evTo) {
		t.Errorf("header: %+v", s)
	}
	if !strings.HasPrefix(s.Inventory, "kube_node_info") {
		t.Errorf("inventory %q, want kube_node_info", s.Inventory)
	}
	checkNodes(t, s, want)

	// Percentiles against the exact order statistics of what node-a sent.
	var bounds []float64
	for i, ts := range fleet.Scrapes() {
		if smp, ok := fleet.Nodes[0].At(i, ts); ok {
			bounds = append(bounds, smp.Bound)
		}
	}
	sort.Float64s(bounds)
	for _, q := range []struct {
		name string
		q    float64
		got  *float64
	}{{"p50", 0.5, s.Nodes[0].P50}, {"p99", 0.99, s.Nodes[0].P99}} {
		exact := bounds[int(math.Ceil(q.q*float64(len(bounds))))-1]
		if q.got == nil || math.Abs(*q.got-exact)/exact > 0.01 {
			t.Errorf("node-a-ok %s = %v, want %v within 1%%", q.name, deref(q.got), exact)
		}
	}
	if refs := s.Nodes[0].References; len(refs) != 1 || refs[0].Name != "aks-host" || refs[0].ID != fleetgen.ReferenceID("aks-host") || refs[0].Samples != steps {
		t.Errorf("node-a-ok references %+v, want aks-host with %d samples", refs, steps)
	}
	if s.Fleet.Nodes != 8 || s.Fleet.NodesFullyWithin != 2 || s.Fleet.Breaches != 2 || s.Fleet.Outages != 6 || s.Fleet.WorstNode != "node-b-breach" {
		t.Errorf("fleet %+v: want 8 nodes, 2 fully within, 2 breaches, 6 outages, worst node-b-breach", s.Fleet)
	}
	if len(s.Excluded) != 1 || s.Excluded[0].Node != "akswin000000" || !strings.HasPrefix(s.Excluded[0].OSImage, "Windows") {
		t.Errorf("excluded_nodes %+v: want the Windows node", s.Excluded)
	}
	if !strings.Contains(strings.Join(s.Warnings, "\n"), "node-e-never is in the inventory but sent no chrony series") {
		t.Errorf("warnings %q: want one for node-e-never", s.Warnings)
	}
	checkCSV(t, r.dir, s)
	checkSyncLog(t, r.dir)
	checkManifest(t, r.dir)
	checkHTML(t, r.dir, s)
	checkPDF(t, r.dir)
	if keep := os.Getenv("EVIDENCE_KEEP"); keep != "" {
		os.CopyFS(keep, os.DirFS(r.dir))
	}

	t.Run("rolled up from daily reports", func(t *testing.T) {
		// Side by side, as the daily CronJob keeps them.
		kept := t.TempDir()
		day1 := runEvidenceInto(t, filepath.Join(kept, "2026-10-01"), "--prometheus", url, "--from", rfc(evFrom), "--to", rfc(at(24, 0)), "--profile", "mifid_ii_algo")
		day2 := runEvidenceInto(t, filepath.Join(kept, "2026-10-02"), "--prometheus", url, "--from", rfc(at(24, 0)), "--to", rfc(evTo), "--profile", "mifid_ii_algo")
		if day1.code != 0 || day2.code != 0 {
			t.Fatalf("daily reports: exit %d, %d: %s %s", day1.code, day2.code, day1.stderr, day2.stderr)
		}
		// The second day compares itself with the first.
		var s1, s2 struct {
			Fleet struct {
				Breaches  int      `json:"breaches"`
				Traceable *float64 `json:"traceable_within_ratio"`
			} `json:"fleet"`
			Previous *struct {
				Report    string   `json:"report"`
				From      string   `json:"from"`
				Breaches  int      `json:"breaches"`
				Traceable *float64 `json:"traceable_within_ratio"`
			} `json:"previous_period"`
		}
		for _, x := range []struct {
			dir string
			s   any
		}{{day1.dir, &s1}, {day2.dir, &s2}} {
			raw, _ := os.ReadFile(filepath.Join(x.dir, "summary.json"))
			if err := json.Unmarshal(raw, x.s); err != nil {
				t.Fatal(err)
			}
		}
		if s1.Previous != nil || !strings.Contains(day1.stderr, "no report of the previous period") {
			t.Errorf("day 1: previous_period %+v, stderr %q; want none, and a warning saying so", s1.Previous, day1.stderr)
		}
		if p := s2.Previous; p == nil || p.Report != "2026-10-01" || p.From != rfc(evFrom) || p.Breaches != s1.Fleet.Breaches || fmt.Sprint(deref(p.Traceable)) != fmt.Sprint(deref(s1.Fleet.Traceable)) {
			t.Errorf("day 2: previous_period %+v, want day 1's figures (breaches %d, traceable %v)", p, s1.Fleet.Breaches, deref(s1.Fleet.Traceable))
		}
		rolled := runEvidence(t, "rollup", day2.dir, day1.dir)
		if rolled.code != 0 {
			t.Fatalf("rollup exited %d: %s", rolled.code, rolled.stderr)
		}
		if out, err := exec.Command(testbin.Evidence(t), "verify", rolled.dir).CombinedOutput(); err != nil {
			t.Errorf("verify of the rollup: %v\n%s", err, out)
		}
		got, want := comparable(t, rolled.dir), comparable(t, r.dir)
		if got != want {
			t.Errorf("the rollup of the two days differs from the two days read from the store:\nrollup: %s\nstore:  %s", got, want)
		}
		// A day missing from the middle, or a report altered, is refused.
		if gap := runEvidence(t, "rollup", day1.dir, filepath.Join(day2.dir, "..", "nothing")); gap.code != 1 {
			t.Errorf("rollup of a missing report: exit %d", gap.code)
		}
		os.WriteFile(filepath.Join(day1.dir, "nodes.csv"), []byte("node\n"), 0o644)
		if bad := runEvidence(t, "rollup", day1.dir, day2.dir); bad.code != 1 || !strings.Contains(bad.stderr, "does not verify") {
			t.Errorf("rollup of an altered report: exit %d, %s", bad.code, bad.stderr)
		}
	})

	t.Run("without inventory", func(t *testing.T) {
		r := runEvidence(t, "--prometheus", url, "--from", rfc(evFrom), "--to", rfc(evTo), "--tolerance", "1ms", "--inventory", "none", "--cluster", "aks-prod")
		if r.code != 0 {
			t.Fatalf("chrony-evidence exited %d: %s", r.code, r.stderr)
		}
		s := readSummary(t, r.dir)
		if !strings.HasPrefix(s.Inventory, "none") {
			t.Errorf("inventory %q, want none", s.Inventory)
		}
		noInv := map[string]expectNode{}
		for name, w := range want {
			if name == "node-e-never" {
				continue // invisible without an inventory: why the report says so
			}
			w.inFleetSteps = steps
			noInv[name] = w
		}
		d := noInv["node-d-left"]
		d.steps = map[string]int{"no_data": 12 * 120}
		d.outages = [][3]string{window(at(36, 0), evTo, "no_data")}
		noInv["node-d-left"] = d
		h := noInv["node-h-late"]
		h.steps = map[string]int{"no_data": 8*120 + 10}
		h.outages = [][3]string{window(evFrom, at(8, 5), "no_data")}
		noInv["node-h-late"] = h
		checkNodes(t, s, noInv)
	})
}

// comparable is summary.json without what a rollup cannot give back
// (percentiles), what names its inputs, and what describes the way the
// data was read rather than the data: the rest must be equal.
func comparable(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"run", "sync_log", "inventory", "window", "warnings", "partial", "rolled_up_from"} {
		delete(s, k)
	}
	for _, n := range s["nodes"].([]any) {
		delete(n.(map[string]any), "p50_max_error_seconds")
		delete(n.(map[string]any), "p99_max_error_seconds")
	}
	for _, sv := range s["cross_check_servers"].([]any) {
		delete(sv.(map[string]any), "abs_offset_p50_seconds")
		delete(sv.(map[string]any), "abs_offset_p99_seconds")
	}
	out, _ := json.Marshal(s)
	return string(out)
}

func checkCSV(t *testing.T, dir string, s summaryJSON) {
	t.Helper()
	nodes, _ := os.ReadFile(filepath.Join(dir, "nodes.csv"))
	if lines := strings.Split(strings.TrimSpace(string(nodes)), "\n"); len(lines) != len(s.Nodes)+1 || !strings.HasPrefix(lines[1], "node-a-ok,aks-prod,true,172800,1,0,172800,") {
		t.Errorf("nodes.csv:\n%s", nodes)
	}
	outages, _ := os.ReadFile(filepath.Join(dir, "outages.csv"))
	if !strings.Contains(string(outages), "node-b-breach,aks-prod,2026-10-01T10:00:00Z,2026-10-01T10:03:00Z,180,above_tolerance\n") ||
		strings.Count(string(outages), "\n") != s.Fleet.Outages+s.Fleet.UTCOutages+1 {
		t.Errorf("outages.csv:\n%s", outages)
	}
}

func checkManifest(t *testing.T, dir string) {
	t.Helper()
	bin := testbin.Evidence(t)
	if out, err := exec.Command(bin, "verify", dir).CombinedOutput(); err != nil {
		t.Fatalf("verify of an untouched report: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	var m struct {
		Version    string
		DataSource string `json:"data_source"`
		Queries    []struct{ Query string }
		Files      []struct{ Name string }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 6 || len(m.Queries) < 3 || !strings.HasPrefix(m.DataSource, "http://127.0.0.1:") {
		t.Errorf("manifest: %s", raw)
	}
	// make builds it in this git checkout stamped with the revision, which
	// the report names, whatever GOFLAGS says.
	if _, err := os.Stat(filepath.Join(testbin.RepoRoot(), ".git")); err == nil &&
		!regexp.MustCompile(` [0-9a-f]{40}\b`).MatchString(m.Version) {
		t.Errorf("the manifest's version %q names no VCS revision", m.Version)
	}
	// One byte changed in a copy is caught.
	copyDir := t.TempDir()
	for _, f := range append(m.Files, struct{ Name string }{"manifest.json"}) {
		b, _ := os.ReadFile(filepath.Join(dir, f.Name))
		if f.Name == "nodes.csv" {
			b[len(b)/2] ^= 0x01
		}
		os.WriteFile(filepath.Join(copyDir, f.Name), b, 0o644)
	}
	out, err := exec.Command(bin, "verify", copyDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nodes.csv: SHA-256") {
		t.Errorf("verify of a report with one byte changed: err %v, output %s", err, out)
	}
}

// checkHTML opens the report in headless Chromium, with every request it
// might make sent to a proxy that counts them, and reads the rendered page.
func checkHTML(t *testing.T, dir string, s summaryJSON) {
	t.Helper()
	chromium := testkit.Program(t, "chromium")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var requests []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			requests = append(requests, strings.TrimSpace(line))
			mu.Unlock()
			c.Close()
		}
	}()
	shot := filepath.Join(t.TempDir(), "page.png")
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--user-data-dir=" + t.TempDir(), "--proxy-server=http://" + ln.Addr().String(), "--proxy-bypass-list=<-loopback>"}
	// Chromium's own traffic (updates, time, accounts) goes to Google's
	// hosts; anything else came from the page.
	fromPage := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, r := range requests {
			f := strings.Fields(r)
			if len(f) < 2 {
				continue
			}
			host := strings.TrimPrefix(strings.TrimPrefix(f[1], "http://"), "https://")
			host, _, _ = strings.Cut(host, "/")
			host, _, _ = strings.Cut(host, ":")
			if !strings.HasSuffix(host, ".google.com") && !strings.HasSuffix(host, ".googleapis.com") && !strings.HasSuffix(host, ".gvt1.com") {
				out = append(out, r)
			}
		}
		requests = nil
		return out
	}
	// The detector sees a page that does load something.
	control := filepath.Join(t.TempDir(), "control.html")
	os.WriteFile(control, []byte(`<html><body><img src="http://assets.example.net/logo.png"></body></html>`), 0o644)
	if _, err := exec.Command(chromium, append(base, "--dump-dom", "file://"+control)...).Output(); err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if got := fromPage(); len(got) == 0 {
		t.Fatal("a page with an external image made no request through the proxy: the check below could not fail")
	}

	page := "file://" + filepath.Join(dir, "report.html")
	dom, err := exec.Command(chromium, append(base, "--dump-dom", page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if out, err := exec.Command(chromium, append(base, "--screenshot="+shot, "--window-size=1000,1400", page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if got := fromPage(); len(got) != 0 {
		t.Errorf("opening report.html made requests: %q", got)
	}
	var run struct {
		Run struct {
			ID string `json:"id"`
		} `json:"run"`
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "summary.json")); err != nil || json.Unmarshal(raw, &run) != nil || run.Run.ID == "" {
		t.Fatalf("summary.json names no run: %v", err)
	}
	for _, want := range []string{"Fleet summary", "2 of 8", "node-b-breach", "2026-10-01T10:00:00Z", "above_tolerance", "<svg", "reference aks-host (" + fleetgen.ReferenceID("aks-host") + ")", "akswin000000",
		// The identity line names the run; the method, the conclusion and
		// the attestation are there.
		`<p id="identity">chrony-evidence `, ", run " + run.Run.ID + ", generated ",
		`<h2 id="method">2. Method</h2>`, "The worst reading decides the step", "Gaps of up to 10 minutes in the inventory are bridged",
		`id="conclusion"`, "1 of 8 nodes was traceably within 1 ms for every step of the period", "2 of 8 nodes were within 1 ms for every step",
		`The 7 exceptions are listed in <a href="#exceptions">`, "The data was whole",
		`<section class="attest" id="attestation">`, "11. Attestation", "the manifest.json kept with this report", "Annual certification under FINRA CAT",
		// Units with the micro sign; a late node's time in the fleet.
		"p50 195.7 \u00b5s", "In the fleet from 2026-10-01 08:00 UTC to the end of the period (joined late).",
	} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("rendered report.html lacks %q", want)
		}
	}
	if i, j := bytes.Index(dom, []byte(`id="lead"`)), bytes.Index(dom, []byte(`id="conclusion"`)); i < 0 || j < i {
		t.Errorf("the conclusion (at %d) does not follow the fleet summary's lead (at %d)", j, i)
	}
	if share := inkShare(t, shot); share < 0.01 {
		t.Errorf("the rendered page is blank (%.4f of its pixels not white)", share)
	}
}

// checkPDF renders every page of report.pdf with poppler's pdftoppm and
// checks that none is blank; reads each page's text with pdftotext: each
// names the run and says "page N of M", the last is the attestation; and
// holds the text of the backfilled fleet's report equal to a golden file,
// with what differs between runs (run id, generation time, version, data
// source, directory) replaced by placeholders.
func checkPDF(t *testing.T, dir string) {
	t.Helper()
	pdftoppm := testkit.Program(t, "pdftoppm")
	pdftotext := testkit.Program(t, "pdftotext")
	out := t.TempDir()
	if b, err := exec.Command(pdftoppm, "-r", "40", "-png", filepath.Join(dir, "report.pdf"), filepath.Join(out, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, b)
	}
	pages, _ := filepath.Glob(filepath.Join(out, "page*.png"))
	if len(pages) < 2 {
		t.Fatalf("report.pdf has %d pages, want the summary and the nodes", len(pages))
	}
	for _, p := range pages {
		if share := inkShare(t, p); share < 0.005 {
			t.Errorf("%s is blank (%.4f of its pixels not white)", filepath.Base(p), share)
		}
	}

	var run struct {
		Run struct {
			ID          string `json:"id"`
			Version     string `json:"version"`
			GeneratedAt string `json:"generated_at"`
			DataSource  string `json:"data_source"`
		} `json:"run"`
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "summary.json")); err != nil || json.Unmarshal(raw, &run) != nil || run.Run.ID == "" {
		t.Fatalf("summary.json names no run: %v", err)
	}
	placeholders := strings.NewReplacer(
		run.Run.DataSource, "<DATA-SOURCE>", dir, "<REPORT-DIR>", run.Run.ID, "<RUN-ID>", run.Run.GeneratedAt, "<GENERATED>", "chrony-evidence "+run.Run.Version, "chrony-evidence <VERSION>")
	var golden strings.Builder
	n := len(pages)
	for i := 1; i <= n; i++ {
		raw, err := exec.Command(pdftotext, "-layout", "-f", fmt.Sprint(i), "-l", fmt.Sprint(i), filepath.Join(dir, "report.pdf"), "-").Output()
		if err != nil {
			t.Fatalf("pdftotext page %d: %v", i, err)
		}
		text := string(raw)
		if strings.TrimSpace(text) == "" {
			t.Errorf("page %d has no text", i)
		}
		if !strings.Contains(text, "Run "+run.Run.ID) || !strings.Contains(text, fmt.Sprintf("page %d of %d", i, n)) {
			t.Errorf("page %d does not name run %s and say \"page %d of %d\":\n%s", i, run.Run.ID, i, n, text)
		}
		if i == n && (!strings.Contains(text, "11. Attestation") || !strings.Contains(text, "Reviewer name") || !strings.Contains(text, "Annual review under MiFID II RTS 25")) {
			t.Errorf("the last page is not the attestation:\n%s", text)
		}
		// Lines as words: where a page's columns fall depends on the
		// lengths of what the placeholders replace.
		fmt.Fprintf(&golden, "=== page %d of %d\n", i, n)
		for _, line := range strings.Split(placeholders.Replace(text), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				golden.WriteString(strings.Join(f, " ") + "\n")
			}
		}
	}
	if t.Name() != "TestEvidenceFromBackfilledPrometheus" {
		return
	}
	path := repoPath(t, "e2e/testdata/evidence-report.golden.txt")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := golden.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		at := func(ls []string) string { return strings.Join(ls[max(line-3, 0):min(line+4, len(ls))], "\n") }
		t.Errorf("report.pdf's text differs from %s from line %d; if on purpose, look at the pages and run (cd e2e && go test -run TestEvidenceFromBackfilledPrometheus -update):\ngot:\n%s\nwant:\n%s",
			path, line+1, at(gl), at(wl))
	}
}

func inkShare(t *testing.T, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	ink := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				ink++
			}
		}
	}
	return float64(ink) / float64(b.Dx()*b.Dy())
}
