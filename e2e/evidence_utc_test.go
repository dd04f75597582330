package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/fleetgen"
)

// The traceable fleet: six hours, one node per case of traceability to UTC
// an auditor asks about. The tolerance is mifid_ii_algo's 1 ms.
var (
	utcFrom = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	utcTo   = utcFrom.Add(6 * time.Hour)
)

func utcAt(h, m int) time.Time {
	return utcFrom.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

var (
	ntp1 = fleetgen.CrossCheck{Address: "ntp1.example:123", Stratum: 1, ReferenceID: "47505300", Reference: "GPS", Offset: 100e-6, Bound: 300e-6}
	ntp2 = fleetgen.CrossCheck{Address: "ntp2.example:123", Stratum: 2, ReferenceID: "0A000001", Reference: "10.0.0.1", Offset: -150e-6, Bound: 400e-6}
	// A server whose path is too long to prove 1 ms.
	far = fleetgen.CrossCheck{Address: "far.example:123", Stratum: 1, ReferenceID: "50505300", Reference: "PPS", Offset: 2e-3, Bound: 5e-3}
)

func traceableFleet() fleetgen.Fleet {
	whole := []fleetgen.Window{{Start: utcFrom, End: utcTo}}
	node := func(name string, checks ...fleetgen.CrossCheck) fleetgen.Node {
		return fleetgen.Node{Name: name, Cluster: "aks-prod", Profile: "mifid_ii_algo", Inventory: whole, Reporting: whole,
			Bound: func(int) float64 { return 200e-6 }, Reference: "PHC0", CrossChecks: checks, Collector: "0.3.0"}
	}
	disagreeing := ntp1
	disagreeing.Disagree = []fleetgen.Window{{Start: utcAt(2, 0), End: utcAt(4, 0)}}
	disagreeing.DisagreeOffset, disagreeing.DisagreeBound = 5e-3, 5.2e-3
	ntp2Down := ntp2
	ntp2Down.Down = []fleetgen.Window{{Start: utcAt(1, 0), End: utcAt(3, 0)}}
	above := node("node-6-above-verified", ntp1)
	above.Breach, above.BreachBound = []fleetgen.Window{{Start: utcAt(1, 0), End: utcAt(1, 10)}}, 1.5e-3
	old := node("node-5-one-server-down", ntp1, ntp2Down)
	old.Collector = "0.2.9"
	return fleetgen.Fleet{From: utcFrom, To: utcTo, Interval: 30 * time.Second, Offset: 7 * time.Second, InventoryOffset: 3 * time.Second,
		Nodes: []fleetgen.Node{
			node("node-1-verified", ntp1),
			node("node-2-disagrees", disagreeing),
			node("node-3-inconclusive", far),
			node("node-4-unverified"),
			old,
			above,
		}}
}

// utcSummaryJSON is what the UTC tests read of summary.json v2.
type utcSummaryJSON struct {
	Schema           string  `json:"schema"`
	UTCWindowSeconds float64 `json:"utc_window_seconds"`
	Nodes            []struct {
		Node       string                               `json:"node"`
		Traceable  *float64                             `json:"traceable_within_ratio"`
		Seconds    map[string]float64                   `json:"seconds"`
		UTCSeconds map[string]float64                   `json:"utc_seconds"`
		WorstUTC   *float64                             `json:"worst_utc_error_bound_seconds"`
		WorstUTCAt string                               `json:"worst_utc_at"`
		UTCOutages []struct{ Start, End, Cause string } `json:"utc_outages"`
	} `json:"nodes"`
	Servers []struct {
		Address    string `json:"address"`
		Identities []struct {
			Stratum       string `json:"stratum"`
			ReferenceID   string `json:"reference_id"`
			ReferenceName string `json:"reference_name"`
		} `json:"identities"`
		Nodes       int      `json:"nodes"`
		Answered    *float64 `json:"answered_ratio"`
		P50         *float64 `json:"abs_offset_p50_seconds"`
		P99         *float64 `json:"abs_offset_p99_seconds"`
		Max         *float64 `json:"abs_offset_max_seconds"`
		WorstBound  *float64 `json:"worst_error_bound_seconds"`
		Disagreeing int64    `json:"disagreeing_samples"`
	} `json:"cross_check_servers"`
	System struct {
		Platforms []struct {
			OSImage       string   `json:"os_image"`
			KernelVersion string   `json:"kernel_version"`
			Nodes         []string `json:"nodes"`
		} `json:"platforms"`
		Collectors []struct {
			Version string   `json:"version"`
			Nodes   []string `json:"nodes"`
		} `json:"collectors"`
	} `json:"system"`
	Fleet struct {
		NodesFullyTraceable int                `json:"nodes_fully_traceable"`
		Traceable           *float64           `json:"traceable_within_ratio"`
		UTCSeconds          map[string]float64 `json:"utc_seconds"`
		WorstUTC            *float64           `json:"worst_utc_error_bound_seconds"`
		WorstUTCNode        string             `json:"worst_utc_node"`
		Disagreements       int                `json:"disagreements"`
	} `json:"fleet"`
}

func readUTCSummary(t *testing.T, dir string) utcSummaryJSON {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s utcSummaryJSON
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTraceableEvidenceFromBackfilledPrometheus checks every UTC figure of
// a backfilled fleet against the rule worked out by hand: a step (t − 30 s,
// t] takes its UTC state from the node's cross-check samples in
// (t − 5 min, t]; the scrapes are at 7 s past each half minute.
func TestTraceableEvidenceFromBackfilledPrometheus(t *testing.T) {
	t.Parallel()
	url := backfilledPrometheus(t, traceableFleet())
	r := runEvidence(t, "--prometheus", url, "--from", rfc(utcFrom), "--to", rfc(utcTo), "--profile", "mifid_ii_algo")
	if r.code != 0 {
		t.Fatalf("chrony-evidence exited %d: %s", r.code, r.stderr)
	}
	s := readUTCSummary(t, r.dir)
	if s.Schema != "chrony-evidence/summary/v2" || s.UTCWindowSeconds != 300 {
		t.Errorf("schema %q, UTC window %v s; want v2 and 300", s.Schema, s.UTCWindowSeconds)
	}
	const steps = 6 * 120
	// The disagreement covers the scrapes 02:00:07 to 03:59:37. A step ending
	// at t holds a scrape s when t − 300 s < s ≤ t: the first step so is the
	// one ending 02:00:30, the last the one ending 04:04:30, so 2 h + 5 min
	// of steps less one: 249 steps.
	disagreeSteps := int((2*time.Hour+5*time.Minute)/(30*time.Second)) - 1
	// The breach covers the 20 scrapes 01:00:07 to 01:09:37, one per step.
	breachSteps := 20
	type expect struct {
		utc       map[string]int // steps per UTC state
		traceable int
		worstUTC  float64
		runs      [][3]string
	}
	all := func(state string) map[string]int { return map[string]int{state: steps} }
	want := map[string]expect{
		"node-1-verified": {all("utc_verified"), steps, 300e-6, nil},
		"node-2-disagrees": {map[string]int{"utc_verified": steps - disagreeSteps, "utc_disagrees": disagreeSteps}, steps - disagreeSteps, 5.2e-3,
			[][3]string{{rfc(utcAt(2, 0)), rfc(utcAt(4, 4).Add(30 * time.Second)), "utc_disagrees"}}},
		"node-3-inconclusive": {all("utc_inconclusive"), 0, 5e-3, [][3]string{{rfc(utcFrom), rfc(utcTo), "utc_inconclusive"}}},
		"node-4-unverified":   {all("utc_unverified"), 0, 0, [][3]string{{rfc(utcFrom), rfc(utcTo), "utc_unverified"}}},
		// ntp2 down for two hours: ntp1 still verifies every step. The
		// worst UTC bound is of the best server in each window: ntp1's.
		"node-5-one-server-down": {all("utc_verified"), steps, 300e-6, nil},
		"node-6-above-verified":  {all("utc_verified"), steps - breachSteps, 300e-6, nil},
	}
	if len(s.Nodes) != len(want) {
		t.Fatalf("%d nodes, want %d", len(s.Nodes), len(want))
	}
	fleetTraceable, fleetUTC := 0, map[string]int{}
	for _, n := range s.Nodes {
		w, ok := want[n.Node]
		if !ok {
			t.Errorf("unexpected node %s", n.Node)
			continue
		}
		for _, st := range []string{"utc_verified", "utc_inconclusive", "utc_unverified", "utc_disagrees"} {
			fleetUTC[st] += w.utc[st]
			if n.UTCSeconds[st] != float64(w.utc[st]*30) {
				t.Errorf("%s: %s seconds %v, want %d", n.Node, st, n.UTCSeconds[st], w.utc[st]*30)
			}
		}
		fleetTraceable += w.traceable
		if want := float64(w.traceable) / steps; n.Traceable == nil || math.Abs(*n.Traceable-want) > 1e-12 {
			t.Errorf("%s: traceable_within_ratio %v, want %d/%d", n.Node, deref(n.Traceable), w.traceable, steps)
		}
		if w.worstUTC == 0 {
			if n.WorstUTC != nil {
				t.Errorf("%s: worst UTC bound %v, want none", n.Node, *n.WorstUTC)
			}
		} else if n.WorstUTC == nil || *n.WorstUTC != w.worstUTC {
			t.Errorf("%s: worst UTC bound %v, want %v", n.Node, deref(n.WorstUTC), w.worstUTC)
		}
		var runs [][3]string
		for _, o := range n.UTCOutages {
			runs = append(runs, [3]string{o.Start, o.End, o.Cause})
		}
		if fmt.Sprint(runs) != fmt.Sprint(w.runs) {
			t.Errorf("%s: UTC runs %v, want %v", n.Node, runs, w.runs)
		}
	}
	f := s.Fleet
	if want := float64(fleetTraceable) / (6 * steps); f.Traceable == nil || math.Abs(*f.Traceable-want) > 1e-12 {
		t.Errorf("fleet traceable_within_ratio %v, want %d/%d", deref(f.Traceable), fleetTraceable, 6*steps)
	}
	if f.NodesFullyTraceable != 2 || f.Disagreements != 1 || f.WorstUTC == nil || *f.WorstUTC != 5.2e-3 || f.WorstUTCNode != "node-2-disagrees" {
		t.Errorf("fleet %+v: want 2 nodes fully traceable (1 and 5), 1 disagreement, worst UTC bound 5.2 ms on node-2", f)
	}
	for st, n := range fleetUTC {
		if f.UTCSeconds[st] != float64(n*30) {
			t.Errorf("fleet %s seconds %v, want %d", st, f.UTCSeconds[st], n*30)
		}
	}

	// The server table. ntp1 is checked by nodes 1, 2, 5 and 6: 4 × 720
	// offsets, 240 of them node-2's 5 ms, so p50 is 100 µs and p99 5 ms; 240
	// disagreeing samples. ntp2 did not answer 240 of its 720 checks.
	type server struct {
		stratum, refName  string
		nodes             int
		answered          float64
		p50, p99, max, wb float64
		disagreeing       int64
	}
	wantServers := map[string]server{
		"far.example:123":  {"1", "PPS", 1, 1, 2e-3, 2e-3, 2e-3, 5e-3, 0},
		"ntp1.example:123": {"1", "GPS", 4, 1, 100e-6, 5e-3, 5e-3, 5.2e-3, 240},
		"ntp2.example:123": {"2", "10.0.0.1", 1, 480.0 / 720, 150e-6, 150e-6, 150e-6, 400e-6, 0},
	}
	if len(s.Servers) != len(wantServers) {
		t.Fatalf("servers %+v, want %d", s.Servers, len(wantServers))
	}
	near := func(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) <= 0.005*want }
	for _, sv := range s.Servers {
		w := wantServers[sv.Address]
		if len(sv.Identities) != 1 || sv.Identities[0].Stratum != w.stratum || sv.Identities[0].ReferenceName != w.refName || sv.Identities[0].ReferenceID == "" {
			t.Errorf("%s: identities %+v, want stratum %s, %s", sv.Address, sv.Identities, w.stratum, w.refName)
		}
		if sv.Nodes != w.nodes || sv.Answered == nil || math.Abs(*sv.Answered-w.answered) > 1e-12 || sv.Disagreeing != w.disagreeing {
			t.Errorf("%s: nodes %d, answered %v, disagreeing %d; want %d, %v, %d", sv.Address, sv.Nodes, deref(sv.Answered), sv.Disagreeing, w.nodes, w.answered, w.disagreeing)
		}
		// Percentiles from 1% buckets: within 0.5%; the maximum exact.
		if !near(sv.P50, w.p50) || !near(sv.P99, w.p99) || sv.Max == nil || *sv.Max != w.max || sv.WorstBound == nil || *sv.WorstBound != w.wb {
			t.Errorf("%s: |offset| p50 %v p99 %v max %v, worst bound %v; want %v, %v, %v, %v", sv.Address, deref(sv.P50), deref(sv.P99), deref(sv.Max), deref(sv.WorstBound), w.p50, w.p99, w.max, w.wb)
		}
	}
	// The annex's inventory: one platform for all six nodes, two collector
	// builds.
	sys := s.System
	if len(sys.Platforms) != 1 || len(sys.Platforms[0].Nodes) != 6 || sys.Platforms[0].KernelVersion != "5.15.0-1089-azure" {
		t.Errorf("platforms %+v, want one of six nodes", sys.Platforms)
	}
	if len(sys.Collectors) != 2 || sys.Collectors[0].Version != "0.2.9" || fmt.Sprint(sys.Collectors[0].Nodes) != "[node-5-one-server-down]" || len(sys.Collectors[1].Nodes) != 5 {
		t.Errorf("collectors %+v, want 0.2.9 on node-5 and 0.3.0 on the five others", sys.Collectors)
	}
	f2, err := os.Open(filepath.Join(r.dir, "outages.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	outages, err := csv.NewReader(f2).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var utcRows int
	for _, row := range outages[1:] {
		if strings.HasPrefix(row[5], "utc_") {
			utcRows++
		}
	}
	if utcRows != 3 {
		t.Errorf("outages.csv has %d UTC runs, want 3 (node-2, node-3, node-4)", utcRows)
	}
}
