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
