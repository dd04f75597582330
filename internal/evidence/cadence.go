package evidence

import (
	"fmt"
	"time"
)

// Cadence is how often a scheduled report is made: each report covers one
// whole UTC period of it and is named after it.
type Cadence string

// The cadences of --previous.
const (
	Daily     Cadence = "day"
	Weekly    Cadence = "week" // ISO 8601 weeks, Monday to Monday
	Monthly   Cadence = "month"
	Quarterly Cadence = "quarter"
	Yearly    Cadence = "year"
)

// Cadences lists them, shortest first.
func Cadences() []Cadence { return []Cadence{Daily, Weekly, Monthly, Quarterly, Yearly} }

// Start is the start of the period of c holding t.
func (c Cadence) Start(t time.Time) (time.Time, error) {
	t = t.UTC()
	y, m, d := t.Date()
	switch c {
	case Daily:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case Weekly:
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)), nil
	case Monthly:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC), nil
	case Quarterly:
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC), nil
	case Yearly:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a cadence: day, week, month, quarter or year", string(c))
}

// Next is the start of the period after the one starting at start.
func (c Cadence) Next(start time.Time) time.Time {
	switch c {
	case Daily:
		return start.AddDate(0, 0, 1)
	case Weekly:
		return start.AddDate(0, 0, 7)
	case Monthly:
		return start.AddDate(0, 1, 0)
	case Quarterly:
		return start.AddDate(0, 3, 0)
	}
	return start.AddDate(1, 0, 0)
}

// Previous is the start of the period before the one starting at start.
func (c Cadence) Previous(start time.Time) time.Time {
	switch c {
	case Daily:
		return start.AddDate(0, 0, -1)
	case Weekly:
		return start.AddDate(0, 0, -7)
	case Monthly:
		return start.AddDate(0, -1, 0)
	case Quarterly:
		return start.AddDate(0, -3, 0)
	}
	return start.AddDate(-1, 0, 0)
}

// Name is the name of the period starting at start, which a scheduled run
// writes into: 2026-12-04, 2026-W49, 2026-12, 2026-Q4, 2026. Names of one
// cadence sort in time order.
func (c Cadence) Name(start time.Time) string {
	switch c {
	case Daily:
		return start.Format("2006-01-02")
	case Weekly:
		y, w := start.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case Monthly:
		return start.Format("2006-01")
	case Quarterly:
		return fmt.Sprintf("%04d-Q%d", start.Year(), (int(start.Month())-1)/3+1)
	}
	return start.Format("2006")
}

// LastWhole is the last whole period of c before now.
func (c Cadence) LastWhole(now time.Time) (from, to time.Time, err error) {
	to, err = c.Start(now)
	if err != nil {
		return from, to, err
	}
	return c.Previous(to), to, nil
}
