package clockbound

import (
	"math"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
)

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	synced := chronyclient.Tracking{
		LeapStatus:         chronyclient.LeapNormal,
		RefTime:            now.Add(-10 * time.Second),
		ReceivedAt:         now,
		LastUpdateInterval: 64,
		CurrentCorrection:  -0.000050,
		LastOffset:         0.000002,
		RootDelay:          0.000400,
		RootDispersion:     0.000030,
	}
	with := func(f func(*chronyclient.Tracking)) chronyclient.Tracking {
		tr := synced
		f(&tr)
		return tr
	}
	tests := []struct {
		name       string
		tracking   chronyclient.Tracking
		maxError   float64
		clockError float64
		age        float64
		state      State
	}{
		// |−50µs| + 30µs + 400µs/2 = 280µs; seed: 2µs + 30µs + 200µs = 232µs.
		{"synchronised", synced, 0.000280, 0.000232, 10, Synchronised},
		// chronyd still slewing 5 ms: only the documented bound sees it.
		{"slewing 5 ms", with(func(t *chronyclient.Tracking) { t.CurrentCorrection = 0.005; t.LastOffset = 0.0000001 }),
			0.005 + 0.000030 + 0.000200, 0.0000001 + 0.000030 + 0.000200, 10, Synchronised},
		// A large last offset: both see it.
		{"last offset large", with(func(t *chronyclient.Tracking) { t.LastOffset = -0.003; t.CurrentCorrection = 0.003 }),
			0.003230, 0.003230, 10, Synchronised},
		// Exactly 8 update intervals old: still synchronised (the rule is "older than").
		{"8 intervals old", with(func(t *chronyclient.Tracking) { t.RefTime = now.Add(-512 * time.Second) }),
			0.000280, 0.000232, 512, Synchronised},
		{"just over 8 intervals", with(func(t *chronyclient.Tracking) { t.RefTime = now.Add(-512*time.Second - time.Millisecond) }),
			0.000280, 0.000232, 512.001, FreeRunning},
		// Leap status 3: no reference, no bound.
		{"unsynchronised", with(func(t *chronyclient.Tracking) { t.LeapStatus = chronyclient.LeapUnsynchronised }),
			math.Inf(1), 0.000232, 10, Unsynchronised},
		// Not a leap status chrony sends: no bound either.
		{"leap status 7", with(func(t *chronyclient.Tracking) { t.LeapStatus = 7 }),
			math.Inf(1), 0.000232, 10, Unsynchronised},
		// Never synchronised: chronyd reports a zero reference time.
		{"never synchronised", with(func(t *chronyclient.Tracking) { t.RefTime = time.Unix(0, 0) }),
			math.Inf(1), 0.000232, 0, Unsynchronised},
		// Reference stamped a moment "after" the reply (corrected vs system time).
		{"reference in the future", with(func(t *chronyclient.Tracking) { t.RefTime = now.Add(3 * time.Millisecond) }),
			0.000280, 0.000232, 0, Synchronised},
		// First update: no interval yet, so never free-running by the rule.
		{"no interval yet", with(func(t *chronyclient.Tracking) { t.LastUpdateInterval = 0; t.RefTime = now.Add(-time.Hour) }),
			0.000280, 0.000232, 3600, Synchronised},
		{"leap second pending", with(func(t *chronyclient.Tracking) { t.LeapStatus = chronyclient.LeapInsertSecond }),
			0.000280, 0.000232, 10, Synchronised},
	}
	const eps = 1e-12
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Evaluate(tt.tracking)
			if !(b.MaxError == tt.maxError || math.Abs(b.MaxError-tt.maxError) < eps) {
				t.Errorf("MaxError = %.12g, want %.12g", b.MaxError, tt.maxError)
			}
			if math.Abs(b.ClockError-tt.clockError) > eps {
				t.Errorf("ClockError = %.12g, want %.12g", b.ClockError, tt.clockError)
			}
			if math.Abs(b.ReferenceAge-tt.age) > 1e-9 {
				t.Errorf("ReferenceAge = %.9g, want %.9g", b.ReferenceAge, tt.age)
			}
			if b.State != tt.state {
				t.Errorf("State = %v, want %v", b.State, tt.state)
			}
		})
	}
}
