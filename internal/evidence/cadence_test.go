package evidence

import (
	"testing"
	"time"
)

// Every cadence names its periods so that the names sort in time order and
// parse back to the period's start; anything else is not a name of it.
func TestCadenceNames(t *testing.T) {
	for _, tc := range []struct {
		c          Cadence
		at         time.Time
		name, prev string
	}{
		{Daily, time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC), "2026-12-04", "2026-12-03"},
		{Weekly, time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC), "2026-W49", "2026-W48"},
		// 2027-01-01 is a Friday: its ISO week is 2026's 53rd.
		{Weekly, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "2026-W53", "2026-W52"},
		{Weekly, time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), "2027-W01", "2026-W53"},
		{Monthly, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), "2027-01", "2026-12"},
		{Quarterly, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), "2026-Q4", "2026-Q3"},
		{Quarterly, time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), "2027-Q1", "2026-Q4"},
		{Yearly, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), "2026", "2025"},
	} {
		start, err := tc.c.Start(tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.c.Name(start); got != tc.name {
			t.Errorf("%s of %s: %s, want %s", tc.c, tc.at, got, tc.name)
		}
		if got := tc.c.Name(tc.c.Previous(start)); got != tc.prev {
			t.Errorf("%s before %s: %s, want %s", tc.c, tc.name, got, tc.prev)
		}
		if back, ok := tc.c.Parse(tc.name); !ok || !back.Equal(start) {
			t.Errorf("%s.Parse(%q) = %s, %v; want %s", tc.c, tc.name, back, ok, start)
		}
		if next := tc.c.Next(start); !tc.c.Previous(next).Equal(start) || tc.c.Name(next) <= tc.name {
			t.Errorf("%s after %s: %s does not sort after it", tc.c, tc.name, tc.c.Name(next))
		}
	}
	for _, bad := range []struct {
		c    Cadence
		name string
	}{{Daily, "2026-12"}, {Daily, "2026-13-01"}, {Weekly, "2026-W54"}, {Weekly, "2026-W5"}, {Quarterly, "2026-Q5"}, {Monthly, "2026-12-04"}, {Yearly, "26"}, {"fortnight", "2026"}} {
		if _, ok := bad.c.Parse(bad.name); ok {
			t.Errorf("%s.Parse(%q) accepted", bad.c, bad.name)
		}
	}
	if _, err := Cadence("fortnight").Start(time.Now()); err == nil {
		t.Error("a fortnight has a start")
	}
}
