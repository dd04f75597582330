package chronyclient

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"
)

// Offsets of tracking fields in a reply: 28-byte header, refid (4), address
// (16 + 4), stratum, leap status, reference time (12), then nine floats.
const (
	trackingLeapOffset      = 54
	trackingRefTimeOffset   = 56
	trackingRootDelayOffset = 92
	trackingRootDispOffset  = 96
)

// chronyFloat encodes x as chrony's Float (exponent 7 bits, coefficient 25).
func chronyFloat(x float64) uint32 {
	frac, exp := math.Frexp(x)
	coef := int32(math.Round(frac * (1 << 24)))
	e := int32(exp + 1)
	return uint32(e&0x7f)<<25 | uint32(coef)&0x1ffffff
}

func TestChronyFloatHelperRoundTrips(t *testing.T) {
	for _, x := range []float64{-2, 0.5, 1e-6, -3.25e-9, 1000} {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], chronyFloat(x))
		r := wireReader{b: b[:]}
		if got := r.float(); math.Abs(got-x) > math.Abs(x)*1e-7 {
			t.Errorf("%g encodes and decodes to %g", x, got)
		}
	}
}

// What chrony never sends is refused with a reason, not exported with
// chrony.up 1.
func TestImplausibleTrackingRefused(t *testing.T) {
	patchU32 := func(at int, v uint32) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint32(b[at:], v) }
	}
	future := uint32(time.Now().Add(time.Hour).Unix())
	tests := []struct {
		name  string
		patch func([]byte)
		want  string
	}{
		{"negative root delay", patchU32(trackingRootDelayOffset, chronyFloat(-2)), "root delay is negative (-2)"},
		{"negative root dispersion", patchU32(trackingRootDispOffset, chronyFloat(-1e-3)), "root dispersion is negative"},
		{"stratum 65535", func(b []byte) { binary.BigEndian.PutUint16(b[trackingStratumOffset:], 65535) }, "stratum 65535 is beyond NTP's 16"},
		{"reference time an hour ahead", func(b []byte) {
			binary.BigEndian.PutUint32(b[trackingRefTimeOffset:], 0)
			binary.BigEndian.PutUint32(b[trackingRefTimeOffset+4:], future)
		}, "ahead of the reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t)
			rec := golden(t, "tracking")
			fake.setAnswer(func(_ uint16, _ int32, req []byte) [][]byte {
				r := answerTo(req, rec)
				tt.patch(r)
				return [][]byte{r}
			})
			c := newTestClient(t, fake.endpoint())
			_, err := c.Tracking(ctxTimeout(t, time.Second))
			if err == nil {
				t.Fatal("implausible report accepted")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), fake.endpoint()) {
				t.Errorf("error %q does not say %q about %s", err, tt.want, fake.endpoint())
			}
		})
	}
	// The recorded reply itself passes.
	fake := startFake(t)
	if _, err := newTestClient(t, fake.endpoint()).Tracking(ctxTimeout(t, time.Second)); err != nil {
		t.Fatalf("the recorded reply is refused: %v", err)
	}
}

// A leap status chrony does not define (4–7) decodes as sent; the bound
// treats it as unsynchronised (tested in clockbound).
func TestUndefinedLeapStatusDecodes(t *testing.T) {
	fake := startFake(t)
	rec := golden(t, "tracking")
	fake.setAnswer(func(_ uint16, _ int32, req []byte) [][]byte {
		r := answerTo(req, rec)
		binary.BigEndian.PutUint16(r[trackingLeapOffset:], 7)
		return [][]byte{r}
	})
	tr, err := newTestClient(t, fake.endpoint()).Tracking(ctxTimeout(t, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if tr.LeapStatus != 7 {
		t.Errorf("leap status %d, want 7", tr.LeapStatus)
	}
}

// Sequence numbers start at a random value, so a forger cannot know which
// request a reply must answer; they count up from there.
func TestSequenceNumbersStartRandom(t *testing.T) {
	var firsts []uint32
	for range 4 {
		fake := startFake(t)
		c := newTestClient(t, fake.endpoint())
		for range 2 {
			if _, err := c.Tracking(ctxTimeout(t, time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		fake.mu.Lock()
		seqs := append([]uint32(nil), fake.seqs...)
		fake.mu.Unlock()
		if len(seqs) != 2 || seqs[1] != seqs[0]+1 {
			t.Fatalf("sequence numbers %v, want two consecutive", seqs)
		}
		firsts = append(firsts, seqs[0])
	}
	distinct := map[uint32]bool{}
	for _, s := range firsts {
		distinct[s] = true
	}
	if len(distinct) < 3 {
		t.Errorf("four clients started at %v: not random", firsts)
	}
}
