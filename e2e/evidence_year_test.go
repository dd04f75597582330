package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/fleetgen"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// A year rolled up from its 365 daily reports equals the year read from the
// store: the route by which a firm keeps its yearly figures once the store
// has forgotten the data. The fleet's stories cross the boundaries a rollup
// must join: a breach and a disagreement over midnight, a gap of days, a
// node that leaves and one that joins. Scrapes are hourly (and so is the
// step), so that a year stays small enough for every make test.
func TestYearRolledUpFromDailyReports(t *testing.T) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(1, 0, 0)
	on := func(month, day, hour int) time.Time {
		return time.Date(2025, time.Month(month), day, hour, 0, 0, 0, time.UTC)
	}
	whole := []fleetgen.Window{{Start: from, End: to}}
	node := func(name string) fleetgen.Node {
		return fleetgen.Node{Name: name, Cluster: "aks-prod", Profile: "mifid_ii_algo", Inventory: whole, Reporting: whole,
			Bound: func(i int) float64 { return 100e-6 + float64(i%89)*3e-6 }, Reference: "aks-host", CrossChecks: []fleetgen.CrossCheck{ntp1}}
	}
	ok := node("node-a-ok")
	breach := node("node-b-breach")
	breach.Breach, breach.BreachBound = []fleetgen.Window{{Start: on(3, 10, 22), End: on(3, 11, 3)}}, 2.5e-3
	gap := node("node-c-gap")
	gap.Reporting = []fleetgen.Window{{Start: from, End: on(6, 1, 12)}, {Start: on(6, 4, 6), End: to}}
	left := node("node-d-left")
	left.Inventory = []fleetgen.Window{{Start: from, End: on(8, 15, 0)}}
	left.Reporting = left.Inventory
	late := node("node-e-late")
	late.Inventory = []fleetgen.Window{{Start: on(2, 1, 0), End: to}}
	late.Reporting = []fleetgen.Window{{Start: on(2, 1, 3), End: to}}
	utc := node("node-f-utc")
	disagree, down := ntp1, ntp2
	disagree.Disagree = []fleetgen.Window{{Start: on(9, 28, 20), End: on(9, 29, 4)}}
	disagree.DisagreeOffset, disagree.DisagreeBound = 5e-3, 5.2e-3
	down.Down = []fleetgen.Window{{Start: on(11, 3, 0), End: on(11, 10, 0)}}
	utc.CrossChecks = []fleetgen.CrossCheck{disagree, down}
	unsync := node("node-g-unsync")
	unsync.Unsynchronised = []fleetgen.Window{{Start: on(12, 31, 20), End: to}}
	fleet := fleetgen.Fleet{From: from, To: to, Interval: time.Hour, Offset: 7 * time.Minute, InventoryOffset: 3 * time.Minute,
		Nodes: []fleetgen.Node{ok, breach, gap, left, late, utc, unsync}}
	url := backfilledPrometheus(t, fleet)
	common := []string{"--prometheus", url, "--profile", "mifid_ii_algo", "--step", "1h"}

	year := runEvidence(t, append(common, "--from", rfc(from), "--to", rfc(to))...)
	if year.code != 0 {
		t.Fatalf("the year from the store: exit %d: %s", year.code, year.stderr)
	}
	// A few figures by hand, so that the equality below is of a year that
	// holds what the stories say.
	s := readSummary(t, year.dir)
	seconds := map[string]map[string]float64{}
	for _, n := range s.Nodes {
		seconds[n.Node] = n.Seconds
	}
	for _, c := range []struct {
		node, state string
		steps       int
	}{
		{"node-b-breach", "above_tolerance", 5}, // the scrapes at 22:07 to 02:07
		{"node-c-gap", "no_data", 66},           // the steps ending 13:00 on 1 June to 06:00 on 4 June
		{"node-g-unsync", "unsynchronised", 4},  // 20:07 to 23:07 on 31 December
		{"node-e-late", "no_data", 3},           // in the fleet from 00:03 on 1 February, reporting from 03:07
		{"node-d-left", "within", 226 * 24},     // 1 January to 15 August
		{"node-a-ok", "no_data", 0},
	} {
		if got := seconds[c.node][c.state]; got != float64(c.steps*3600) {
			t.Errorf("the year: %s %s seconds %v, want %d", c.node, c.state, got, c.steps*3600)
		}
	}
	if s.Fleet.Nodes != 7 || s.Fleet.Breaches != 2 || s.Fleet.Outages != 4 {
		t.Errorf("the year: fleet %+v, want 7 nodes, 2 breaches (above the tolerance, unsynchronised) and 4 outages", s.Fleet)
		for _, n := range s.Nodes {
			t.Logf("%s: %v, outages %+v", n.Node, n.Seconds, n.Outages)
		}
	}

	// The daily CronJob's reports, side by side; three runs at a time.
	kept := t.TempDir()
	var days []string
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		days = append(days, filepath.Join(kept, d.Format("2006-01-02")))
	}
	var mu sync.Mutex
	var failed []string
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	bin := testbin.Evidence(t)
	for i, dir := range days {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			day := from.AddDate(0, 0, i)
			cmd := exec.Command(bin, append(common, "--from", rfc(day), "--to", rfc(day.AddDate(0, 0, 1)), "--out", dir)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				mu.Lock()
				failed = append(failed, filepath.Base(dir)+": "+err.Error()+": "+stderr.String())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d daily reports failed; the first: %s", len(failed), failed[0])
	}
	rolled := runEvidence(t, append([]string{"rollup"}, days...)...)
	if rolled.code != 0 {
		t.Fatalf("rollup of 365 days: exit %d: %s", rolled.code, rolled.stderr)
	}
	if out, err := exec.Command(bin, "verify", rolled.dir).CombinedOutput(); err != nil {
		t.Errorf("verify of the rollup: %v\n%s", err, out)
	}
	if got, want := comparable(t, rolled.dir), comparable(t, year.dir); got != want {
		t.Errorf("the year rolled up from its days differs from the year read from the store:\nrollup: %s\nstore:  %s", got, want)
	}
}
