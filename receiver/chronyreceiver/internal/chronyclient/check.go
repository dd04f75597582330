package chronyclient

import (
	"fmt"
	"math"
	"time"
)

// A hostile or corrupt chronyd can send any bits. These checks reject what
// chrony itself can never send, so that such a reply is an error and not a
// healthy-looking bound: negative delays, dispersions and deviations, a
// stratum beyond NTP's 16, and a reference time from the future, which would
// make the clock look freshly updated forever.

// maxStratum is NTP's "unsynchronised" stratum, the largest chronyd reports.
const maxStratum = 16

// futureMargin is how far ahead of the reply's arrival the reference time may
// lie: chronyd stamps it in its corrected time, which differs from the system
// clock by the correction still being slewed.
const futureMargin = time.Second

func (t *Tracking) check() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"system time offset", t.CurrentCorrection}, {"last offset", t.LastOffset}, {"RMS offset", t.RMSOffset},
		{"frequency", t.FrequencyPPM}, {"residual frequency", t.ResidualFreqPPM}, {"skew", t.SkewPPM},
		{"root delay", t.RootDelay}, {"root dispersion", t.RootDispersion}, {"update interval", t.LastUpdateInterval},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s is %v", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"root delay", t.RootDelay}, {"root dispersion", t.RootDispersion}, {"RMS offset", t.RMSOffset},
		{"skew", t.SkewPPM}, {"update interval", t.LastUpdateInterval},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s is negative (%g), which chrony never reports: refusing the report", f.name, f.v)
		}
	}
	if t.Stratum > maxStratum {
		return fmt.Errorf("stratum %d is beyond NTP's %d, which chrony never reports: refusing the report", t.Stratum, maxStratum)
	}
	margin := futureMargin + time.Duration(math.Abs(t.CurrentCorrection)*float64(time.Second))
	if ahead := t.RefTime.Sub(t.ReceivedAt); ahead > margin {
		return fmt.Errorf("reference time %s is %s ahead of the reply: refusing the report", t.RefTime.UTC().Format(time.RFC3339Nano), ahead)
	}
	return nil
}

// minPoll and maxPoll bound chrony's poll exponents (refclocks go down to -6,
// maxpoll up to 24) with room to spare.
const (
	minPoll = -32
	maxPoll = 32
)

func (s *Source) check() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"offset", s.Offset}, {"measured offset", s.MeasuredOffset}, {"offset error", s.OffsetError}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("source %s: %s is %v", s.Address, f.name, f.v)
		}
	}
	if s.OffsetError < 0 {
		return fmt.Errorf("source %s: offset error is negative (%g), which chrony never reports", s.Address, s.OffsetError)
	}
	if s.Poll < minPoll || s.Poll > maxPoll {
		return fmt.Errorf("source %s: poll exponent %d is outside %d..%d", s.Address, s.Poll, minPoll, maxPoll)
	}
	return nil
}
