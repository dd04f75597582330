// Package clockbound turns a tracking report into the numbers an auditor asks
// for: how far the system clock can be from true time, and whether that bound
// still rests on a live reference.
package clockbound

import (
	"math"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
)

// State is the clock's synchronisation state.
type State int

const (
	Synchronised State = iota
	// Unsynchronised: chronyd has no reference (leap status 3, or a status
	// chrony does not define); no bound holds.
	Unsynchronised
	// FreeRunning: chronyd still has a reference but has not updated from it
	// for FreeRunningFactor update intervals (ClockBound's rule), so the bound
	// rests on extrapolation only.
	FreeRunning
)

// FreeRunningFactor is how many update intervals without an update make the
// clock free-running.
const FreeRunningFactor = 8

// Bound is what the tracking report says about the clock's error.
type Bound struct {
	// MaxError is chrony's documented bound, |System time| + root dispersion +
	// root delay / 2, at the instant chronyd answered. chronyd grows the root
	// dispersion it reports by (skew + |residual frequency| + maxclockerror)
	// per second since the last update, so the growth is already in it. +Inf
	// while unsynchronised: there is no bound to give.
	MaxError float64
	// ClockError is the `chronyc tracking` sidecar's |Last offset| + root dispersion + root
	// delay / 2. The last offset is measured against the corrected clock, so
	// while chronyd slews a large offset it misses what is still to slew.
	ClockError float64
	// ReferenceAge is the time from the last reference update to the reply, in
	// seconds; HasReference is false when chronyd has never had one.
	ReferenceAge float64
	HasReference bool
	State        State
}

// Evaluate computes the bound from one tracking report.
func Evaluate(t chronyclient.Tracking) Bound {
	b := Bound{
		MaxError:   math.Abs(t.CurrentCorrection) + t.RootDispersion + t.RootDelay/2,
		ClockError: math.Abs(t.LastOffset) + t.RootDispersion + t.RootDelay/2,
	}
	if !t.RefTime.IsZero() && t.RefTime.Unix() != 0 {
		b.HasReference = true
		// chronyd stamps the reference in its corrected time and the reply
		// arrives in system time; right after an update that can come out a
		// little negative, which means "just now".
		b.ReferenceAge = max(t.ReceivedAt.Sub(t.RefTime).Seconds(), 0)
	}
	switch {
	// Leap statuses above 3 are not chrony's; a clock claiming one has no
	// bound to give either.
	case t.LeapStatus >= chronyclient.LeapUnsynchronised || !b.HasReference:
		b.State = Unsynchronised
		b.MaxError = math.Inf(1)
	case t.LastUpdateInterval > 0 && b.ReferenceAge > FreeRunningFactor*t.LastUpdateInterval:
		b.State = FreeRunning
	default:
		b.State = Synchronised
	}
	return b
}
