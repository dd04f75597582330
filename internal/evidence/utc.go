package evidence

import (
	"math"
	"time"
)

// UTCState is what a step of a node counts as against UTC, from the
// receiver's cross-check of the node's clock against independent NTP servers
// (ntp.cross_check.*): chronyd's bound says how far the clock may be from its
// reference, the cross-check how far it may be from the servers' UTC.
type UTCState uint8

// The UTC states, from the only one that verifies to the one that refutes.
const (
	UTCVerified UTCState = iota
	UTCInconclusive
	UTCUnverified
	UTCDisagrees
	numUTCStates
)

var utcStateNames = [numUTCStates]string{"utc_verified", "utc_inconclusive", "utc_unverified", "utc_disagrees"}

func (s UTCState) String() string { return utcStateNames[s] }

// UTCStates lists every UTC state in report order.
func UTCStates() []UTCState {
	return []UTCState{UTCVerified, UTCInconclusive, UTCUnverified, UTCDisagrees}
}

// UTCReading is what the node's cross-check samples (all its servers) say in
// the UTC window ending at the step, reduced on the server: the lowest
// ntp_cross_check_consistent and the lowest ntp_cross_check_error_bound.
// The window is longer than a step because the receiver checks a server
// every minute or so while chronyd is read every step. MaxAbsOffset is the
// largest |offset| among the servers' last samples in the step itself, kept
// for the charts and the server table only.
type UTCReading struct {
	HaveConsistent bool
	MinConsistent  float64
	HaveBound      bool
	MinBound       float64
	HaveOffset     bool
	MaxAbsOffset   float64
	// Invalid marks a value no receiver writes in the window: such a step
	// is never verified.
	Invalid bool
}

// AddConsistent merges one ntp_cross_check_consistent value: the lowest
// decides. NaN is no value; anything but 0 or 1 is not one and returns
// false.
func (u *UTCReading) AddConsistent(v float64) bool {
	switch {
	case math.IsNaN(v):
		return true
	case v != 0 && v != 1:
		u.Invalid = true
		return false
	case !u.HaveConsistent || v < u.MinConsistent:
		u.HaveConsistent, u.MinConsistent = true, v
	}
	return true
}

// AddBound merges one ntp_cross_check_error_bound value: the lowest
// decides, since one server that bounds the clock within the tolerance is
// enough. NaN is no value; a negative bound or +Inf is not one (the
// receiver sends no bound for a reply it cannot use) and returns false.
func (u *UTCReading) AddBound(v float64) bool {
	switch {
	case math.IsNaN(v):
		return true
	case !(v >= 0) || math.IsInf(v, 1):
		u.Invalid = true
		return false
	case !u.HaveBound || v < u.MinBound:
		u.HaveBound, u.MinBound = true, v
	}
	return true
}

// AddOffset merges one server's last ntp_cross_check_offset in the step.
// A value that is not finite is not an offset and returns false.
func (u *UTCReading) AddOffset(v float64) bool {
	switch {
	case math.IsNaN(v):
		return true
	case math.IsInf(v, 0):
		u.Invalid = true
		return false
	case !u.HaveOffset || math.Abs(v) > u.MaxAbsOffset:
		u.HaveOffset, u.MaxAbsOffset = true, math.Abs(v)
	}
	return true
}

// ClassifyUTC decides a step's UTC state from its window. A disagreement
// outranks everything: chronyd's claim and a server's measurement cannot
// both be true. Otherwise the best server decides: one bound within the
// tolerance verifies the step, even when another server's path is too long
// or the server is down.
func ClassifyUTC(u UTCReading, tolerance float64) UTCState {
	switch {
	case u.HaveConsistent && u.MinConsistent == 0:
		return UTCDisagrees
	case u.Invalid:
		return UTCUnverified
	case u.HaveBound && u.MinBound <= tolerance:
		return UTCVerified
	case u.HaveBound:
		return UTCInconclusive
	}
	return UTCUnverified
}

// UTCOutage is a maximal run of steps in one UTC state other than verified.
type UTCOutage struct {
	Start, End time.Time
	Cause      UTCState
}
