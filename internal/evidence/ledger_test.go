package evidence

import (
	"math"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	const tol = 1e-3
	for _, tc := range []struct {
		name string
		r    Reading
		want State
	}{
		{"read, within", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 0.5e-3}, Within},
		{"read, exactly the tolerance", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 1e-3}, Within},
		{"read, above", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 1.1e-3}, AboveTolerance},
		{"unsynchronised", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: math.Inf(1)}, Unsynchronised},
		{"unreachable", Reading{HaveUp: true, MinUp: 0}, Unreachable},
		{"one failed read beside a good one", Reading{HaveUp: true, MinUp: 0, HaveErr: true, MaxErr: 0.2e-3}, Unreachable},
		{"a breach outranks a failed read", Reading{HaveUp: true, MinUp: 0, HaveErr: true, MaxErr: 2e-3}, AboveTolerance},
		{"nothing", Reading{}, NoData},
		{"up without a bound", Reading{HaveUp: true, MinUp: 1}, NoData},
		{"a bound without up", Reading{HaveErr: true, MaxErr: 0.1e-3}, NoData},
		// Values that cannot be readings are not readings.
		{"chrony_up NaN", Reading{HaveUp: true, MinUp: math.NaN(), HaveErr: true, MaxErr: 0.5e-3}, NoData},
		{"chrony_up 0.5", Reading{HaveUp: true, MinUp: 0.5, HaveErr: true, MaxErr: 0.5e-3}, NoData},
		{"chrony_up 2", Reading{HaveUp: true, MinUp: 2, HaveErr: true, MaxErr: 0.5e-3}, NoData},
		{"chrony_up +Inf", Reading{HaveUp: true, MinUp: math.Inf(1), HaveErr: true, MaxErr: 0.5e-3}, NoData},
		{"a bound of NaN", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: math.NaN()}, NoData},
		{"a bound of -Inf", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: math.Inf(-1)}, NoData},
		{"a bound of -5", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: -5}, NoData},
		{"a bound of -5 beside a failed read", Reading{HaveUp: true, MinUp: 0, HaveErr: true, MaxErr: -5}, Unreachable},
		{"a bound of 0", Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 0}, Within},
	} {
		if got := Classify(tc.r, tol); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPeriodIndex(t *testing.T) {
	p := Period{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Second, Steps: 4}
	base := p.From.UnixMilli()
	for _, tc := range []struct {
		t    int64
		k    int
		isOK bool
	}{{base, 0, false}, {base + 30_000, 0, true}, {base + 120_000, 3, true}, {base + 150_000, 4, false}, {base + 45_000, 0, false}} {
		k, ok := p.Index(tc.t)
		if ok != tc.isOK || (ok && k != tc.k) {
			t.Errorf("Index(from+%dms) = %d, %v; want %d, %v", tc.t-base, k, ok, tc.k, tc.isOK)
		}
	}
}

// A ledger accounts every step of the fleet once: skipped steps are no_data,
// steps outside a node's spans are not counted, and outages are maximal runs.
func TestLedgerAccounting(t *testing.T) {
	p := Period{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Second, Steps: 10}
	l := NewLedger(p, 1e-3)
	n := l.Add("n", "c", []Span{{0, 4}, {6, 10}}, false)
	good := Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 1e-4}
	l.Account(n, 0, good)
	l.Account(n, 2, good) // 1 skipped: no_data
	l.Account(n, 3, Reading{HaveUp: true, MinUp: 0})
	l.Account(n, 4, Reading{HaveUp: true, MinUp: 0}) // outside the fleet
	l.Account(n, 6, Reading{HaveUp: true, MinUp: 0})
	l.Account(n, 7, Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 5e-3})
	l.Finish() // 8, 9: no_data
	want := [numStates]int64{Within: 2, AboveTolerance: 1, Unreachable: 2, NoData: 3}
	if n.Steps != want {
		t.Errorf("steps %v, want %v", n.Steps, want)
	}
	at := func(k int) time.Time { return p.At(k) }
	wantOutages := []Outage{{at(1), at(2), NoData}, {at(3), at(4), Unreachable}, {at(6), at(7), Unreachable}, {at(7), at(8), AboveTolerance}, {at(8), at(10), NoData}}
	if len(n.Outages) != len(wantOutages) {
		t.Fatalf("outages %v, want %v", n.Outages, wantOutages)
	}
	for i := range wantOutages {
		if n.Outages[i] != wantOutages[i] {
			t.Errorf("outage %d: %v, want %v", i, n.Outages[i], wantOutages[i])
		}
	}
	if n.Worst != 5e-3 || n.WorstStep != 7 {
		t.Errorf("worst %v at %d, want 5e-3 at 7", n.Worst, n.WorstStep)
	}
}

func TestPercentileWithinHalfAPercent(t *testing.T) {
	p := Period{From: time.Unix(0, 0).UTC(), Step: time.Second, Steps: 1000}
	l := NewLedger(p, 1)
	n := l.Add("n", "", []Span{{0, 1000}}, false)
	for k := 0; k < 1000; k++ {
		l.Account(n, k, Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: float64(k+1) * 1e-6})
	}
	for _, q := range []struct{ q, exact float64 }{{0.5, 500e-6}, {0.99, 990e-6}, {1, 1000e-6}} {
		if got := n.Percentile(q.q); math.Abs(got-q.exact)/q.exact > 0.005 {
			t.Errorf("p%v = %v, want %v within 0.5%%", q.q*100, got, q.exact)
		}
	}
}

// Merging a step's values: the worst decides, NaN is none, and a value no
// collector writes marks the step and is reported.
func TestReadingMerge(t *testing.T) {
	const tol = 1e-3
	for _, tc := range []struct {
		name      string
		up, bound []float64
		want      State
		rejected  int
	}{
		{"one of each", []float64{1}, []float64{1e-5}, Within, 0},
		{"the breach first", []float64{1}, []float64{5e-3, 1e-5}, AboveTolerance, 0},
		{"the breach last", []float64{1}, []float64{1e-5, 5e-3}, AboveTolerance, 0},
		{"+Inf among bounds", []float64{1}, []float64{1e-5, math.Inf(1), 5e-3}, Unsynchronised, 0},
		{"a failed read first", []float64{0, 1}, []float64{1e-5}, Unreachable, 0},
		{"a failed read last", []float64{1, 0}, []float64{1e-5}, Unreachable, 0},
		{"NaN up beside a good one", []float64{math.NaN(), 1}, []float64{1e-5}, Within, 0},
		{"only NaN up", []float64{math.NaN()}, []float64{1e-5}, NoData, 0},
		{"NaN bound beside a good one", []float64{1}, []float64{1e-5, math.NaN()}, Within, 0},
		{"a negative bound beside a good one", []float64{1}, []float64{1e-5, -5}, NoData, 1},
		{"-Inf beside a good one", []float64{1}, []float64{math.Inf(-1), 1e-5}, NoData, 1},
		{"a negative bound beside a breach", []float64{1}, []float64{-5, 5e-3}, AboveTolerance, 1},
		{"chrony_up 0.5", []float64{0.5}, []float64{1e-5}, NoData, 1},
		{"chrony_up 0.5 beside a failed read", []float64{0.5, 0}, []float64{1e-5}, Unreachable, 1},
	} {
		var r Reading
		rejected := 0
		for _, v := range tc.up {
			if !r.AddUp(v) {
				rejected++
			}
		}
		for _, v := range tc.bound {
			if !r.AddMaxError(v) {
				rejected++
			}
		}
		if got := Classify(r, tol); got != tc.want || rejected != tc.rejected {
			t.Errorf("%s: %s with %d rejected, want %s with %d", tc.name, got, rejected, tc.want, tc.rejected)
		}
	}
}

// A bound that cannot be one never becomes a node's worst, nor enters its
// percentiles.
func TestWorstIgnoresImpossibleBounds(t *testing.T) {
	p := Period{From: time.Unix(0, 0).UTC(), Step: time.Second, Steps: 3}
	l := NewLedger(p, 1e-3)
	n := l.Add("n", "", []Span{{0, 3}}, true)
	l.Account(n, 0, Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: -5})
	l.Account(n, 1, Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: math.Inf(-1)})
	l.Account(n, 2, Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 2e-4})
	l.Finish()
	if p50 := n.Percentile(0.5); n.Worst != 2e-4 || n.WorstStep != 2 || math.Abs(p50-2e-4)/2e-4 > 0.005 {
		t.Errorf("worst %v at %d, p50 %v; want 2e-4 at step 2 and p50 2e-4 within 0.5%%", n.Worst, n.WorstStep, p50)
	}
	if want := [numStates]int64{Within: 1, NoData: 2}; n.Steps != want {
		t.Errorf("steps %v, want %v", n.Steps, want)
	}
}

func TestClassifyUTC(t *testing.T) {
	const tol = 1e-3
	for _, tc := range []struct {
		name string
		u    UTCReading
		want UTCState
	}{
		{"no cross-check sample", UTCReading{}, UTCUnverified},
		{"a bound within", UTCReading{HaveConsistent: true, MinConsistent: 1, HaveBound: true, MinBound: 0.4e-3}, UTCVerified},
		{"a bound of exactly the tolerance", UTCReading{HaveBound: true, MinBound: 1e-3}, UTCVerified},
		{"the best bound above: the path is too long", UTCReading{HaveConsistent: true, MinConsistent: 1, HaveBound: true, MinBound: 4e-3}, UTCInconclusive},
		{"one disagreement in the window outranks a good bound", UTCReading{HaveConsistent: true, MinConsistent: 0, HaveBound: true, MinBound: 0.1e-3}, UTCDisagrees},
		{"a disagreement without a bound", UTCReading{HaveConsistent: true, MinConsistent: 0}, UTCDisagrees},
		{"consistent but no bound", UTCReading{HaveConsistent: true, MinConsistent: 1}, UTCUnverified},
		{"a value no receiver writes spoils the verification", UTCReading{HaveBound: true, MinBound: 0.1e-3, Invalid: true}, UTCUnverified},
		{"offsets alone verify nothing", UTCReading{HaveOffset: true, MaxAbsOffset: 1e-6}, UTCUnverified},
	} {
		if got := ClassifyUTC(tc.u, tol); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestUTCReadingMerges(t *testing.T) {
	var u UTCReading
	for _, v := range []float64{1, math.NaN(), 0, 1} {
		if !u.AddConsistent(v) {
			t.Errorf("AddConsistent(%g) refused", v)
		}
	}
	for _, v := range []float64{3e-3, 0.2e-3, math.NaN(), 5e-3} {
		if !u.AddBound(v) {
			t.Errorf("AddBound(%g) refused", v)
		}
	}
	for _, v := range []float64{-4e-3, 2e-3} {
		if !u.AddOffset(v) {
			t.Errorf("AddOffset(%g) refused", v)
		}
	}
	if !u.HaveConsistent || u.MinConsistent != 0 || u.MinBound != 0.2e-3 || u.MaxAbsOffset != 4e-3 || u.Invalid {
		t.Errorf("merged %+v: want consistent 0, bound 0.2 ms, |offset| 4 ms", u)
	}
	for _, tc := range []struct {
		name string
		add  func(*UTCReading) bool
	}{
		{"consistent 0.5", func(u *UTCReading) bool { return u.AddConsistent(0.5) }},
		{"consistent 2", func(u *UTCReading) bool { return u.AddConsistent(2) }},
		{"bound -1", func(u *UTCReading) bool { return u.AddBound(-1) }},
		{"bound +Inf", func(u *UTCReading) bool { return u.AddBound(math.Inf(1)) }},
		{"offset -Inf", func(u *UTCReading) bool { return u.AddOffset(math.Inf(-1)) }},
	} {
		var u UTCReading
		if tc.add(&u) || !u.Invalid {
			t.Errorf("%s: accepted, or not marked invalid: %+v", tc.name, u)
		}
	}
}

// The UTC state is counted beside the state, step by step: traceable only
// when both are good, runs of UTC states other than verified kept apart.
func TestLedgerUTCAccounting(t *testing.T) {
	p := Period{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Second, Steps: 8}
	l := NewLedger(p, 1e-3)
	n := l.Add("n", "c", []Span{{0, 8}}, false)
	good := Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 1e-4}
	verified := UTCReading{HaveConsistent: true, MinConsistent: 1, HaveBound: true, MinBound: 0.3e-3}
	with := func(r Reading, u UTCReading) Reading { r.UTC = u; return r }
	l.Account(n, 0, with(good, verified))
	l.Account(n, 1, with(good, UTCReading{HaveConsistent: true, MinConsistent: 0, HaveBound: true, MinBound: 6e-3}))
	l.Account(n, 2, with(good, UTCReading{HaveConsistent: true, MinConsistent: 0}))
	l.Account(n, 3, with(good, UTCReading{HaveBound: true, MinBound: 2e-3}))
	l.Account(n, 4, with(Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 3e-3}, verified)) // above tolerance, verified
	l.Account(n, 5, with(good, verified))
	l.Account(n, 6, good) // no cross-check
	l.Finish()            // 7: no data, no cross-check
	wantUTC := [numUTCStates]int64{UTCVerified: 3, UTCInconclusive: 1, UTCDisagrees: 2, UTCUnverified: 2}
	if n.UTCSteps != wantUTC {
		t.Errorf("UTC steps %v, want %v", n.UTCSteps, wantUTC)
	}
	if n.Traceable != 2 {
		t.Errorf("traceable %d, want 2 (steps 0 and 5)", n.Traceable)
	}
	if n.WorstUTC != 6e-3 || n.WorstUTCStep != 1 {
		t.Errorf("worst UTC bound %g at %d, want 6 ms at step 1", n.WorstUTC, n.WorstUTCStep)
	}
	at := p.At
	want := []UTCOutage{{at(1), at(3), UTCDisagrees}, {at(3), at(4), UTCInconclusive}, {at(6), at(8), UTCUnverified}}
	if len(n.UTCOutages) != len(want) {
		t.Fatalf("UTC runs %v, want %v", n.UTCOutages, want)
	}
	for i := range want {
		if n.UTCOutages[i] != want[i] {
			t.Errorf("UTC run %d: %v, want %v", i, n.UTCOutages[i], want[i])
		}
	}
	if d := n.Days[0]; d.Traceable != 2 || d.Within != 6 || d.InFleet != 8 {
		t.Errorf("day %+v, want 2 traceable, 6 within of 8", d)
	}
}
