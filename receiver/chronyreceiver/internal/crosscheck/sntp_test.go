package crosscheck

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/facebook/time/ntp/protocol"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/ntpserver"
)

// startServer starts the test kit's NTP server, offset ahead of the system
// clock, with those path delays.
func startServer(t *testing.T, offset, outbound, inbound time.Duration) *ntpserver.Server {
	t.Helper()
	return ntpserver.Start(t, ntpserver.Options{Offset: offset, Outbound: outbound, Inbound: inbound})
}

// spoiled turns a spoiling of the decoded reply into one of its bytes.
func spoiled(spoil func(p *protocol.Packet) []byte) func([]byte) []byte {
	return func(reply []byte) []byte {
		var p protocol.Packet
		_ = p.UnmarshalBinary(reply)
		return spoil(&p)
	}
}

func query(t *testing.T, server string, timeout time.Duration) (Measurement, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Query(ctx, server)
}

// Offsets and delays come out within their theory: |θ − true offset| ≤ δ/2
// (the path's asymmetry is the only error), and δ covers both path delays.
func TestMeasuresOffsetAndDelay(t *testing.T) {
	tests := []struct {
		name              string
		offset            time.Duration
		outbound, inbound time.Duration
	}{
		{"same clock", 0, 0, 0},
		{"server 5 ms ahead", 5 * time.Millisecond, 0, 0},
		{"server 20 ms behind", -20 * time.Millisecond, 0, 0},
		{"5 ms ahead, symmetric 10 ms paths", 5 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{"20 ms behind, asymmetric 30/2 ms paths", -20 * time.Millisecond, 30 * time.Millisecond, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.offset, tt.outbound, tt.inbound)
			m, err := query(t, srv.Addr(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.offset.Seconds()
			if diff := math.Abs(m.Offset - want); diff > m.Delay/2+1e-6 {
				t.Errorf("offset %.6f s, true %.6f s: off by %.6f s, more than δ/2 = %.6f s", m.Offset, want, diff, m.Delay/2)
			}
			if minDelay := (tt.outbound + tt.inbound).Seconds(); m.Delay < minDelay || m.Delay > minDelay+0.05 {
				t.Errorf("delay %.6f s, the paths add up to %.6f s", m.Delay, minDelay)
			}
			if got, want := m.ErrorBound(), math.Abs(m.Offset)+m.Delay/2+ntpserver.RootDispersion/65536.0; math.Abs(got-want) > 1e-12 {
				t.Errorf("error bound %.9f, want %.9f", got, want)
			}
			if m.Stratum != 1 || m.Address != srv.Addr() {
				t.Errorf("stratum %d address %s", m.Stratum, m.Address)
			}
		})
	}
}

// Every reply a careful client must not believe is dropped, and the error at
// the deadline says why; a Kiss-o'-Death is an answer, at once.
func TestRejectsBadReplies(t *testing.T) {
	encode := func(p *protocol.Packet) []byte { b, _ := p.Bytes(); return b }
	tests := []struct {
		name  string
		spoil func(p *protocol.Packet) []byte
		want  string
	}{
		{"wrong origin", func(p *protocol.Packet) []byte { p.OrigTimeFrac++; return encode(p) }, "origin timestamp is not our transmit timestamp"},
		{"client mode", func(p *protocol.Packet) []byte { p.Settings = 4<<3 | 3; return encode(p) }, "mode 3, want 4"},
		{"version 2", func(p *protocol.Packet) []byte { p.Settings = 2<<3 | 4; return encode(p) }, "version 2, want 3 or 4"},
		{"stratum 16", func(p *protocol.Packet) []byte { p.Stratum = 16; return encode(p) }, "stratum 16"},
		{"leap 3", func(p *protocol.Packet) []byte { p.Settings |= 3 << 6; return encode(p) }, "leap indicator 3"},
		{"zero transmit", func(p *protocol.Packet) []byte { p.TxTimeSec, p.TxTimeFrac = 0, 0; return encode(p) }, "zero transmit timestamp"},
		{"truncated", func(p *protocol.Packet) []byte { return encode(p)[:30] }, "too short"},
		{"garbage", func(*protocol.Packet) []byte { return []byte(strings.Repeat("not ntp ", 8)) }, "origin timestamp is not our transmit timestamp"},
		{"Kiss-o'-Death RATE", kiss("RATE"), `Kiss-o'-Death "RATE"`},
		{"Kiss-o'-Death DENY", kiss("DENY"), `Kiss-o'-Death "DENY"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, 0, 0, 0)
			srv.Spoil(spoiled(tt.spoil))
			m, err := query(t, srv.Addr(), 300*time.Millisecond)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), srv.Addr()) {
				t.Errorf("error %q does not say %q about %s", err, tt.want, srv.Addr())
			}
		})
	}
}

func kiss(code string) func(p *protocol.Packet) []byte {
	return func(p *protocol.Packet) []byte {
		p.Stratum = 0
		p.ReferenceID = binary.BigEndian.Uint32([]byte(code))
		b, _ := p.Bytes()
		return b
	}
}

// A reply from another address than the one asked never arrives (the socket
// is connected), and no reply at all ends at the timeout.
func TestNoReply(t *testing.T) {
	srv := startServer(t, 0, 0, 0)
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	srv.ReplyFrom(other)
	start := time.Now()
	_, err = query(t, srv.Addr(), 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Fatalf("a reply from another address was taken: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("gave up after %s, timeout 300ms", took)
	}
}

// Consistency is the overlap of chronyd's interval and the measurement's.
func TestConsistent(t *testing.T) {
	// Binary fractions, so the boundary is exact: |θ| = 1/2 s, δ/2 + λ =
	// 1/8 + 1/16 + 1/16 = 1/4 s.
	m := Measurement{Offset: -0.5, Delay: 0.25, RootDelay: 0.125, RootDispersion: 0.0625}
	tests := []struct {
		maxError float64
		want     bool
	}{
		{0.000002, false},
		{0.25, true},         // the intervals touch
		{0.25 - 1e-9, false}, // a nanosecond apart
		{1, true},            // overlap
		{math.Inf(1), true},  // an unsynchronised chronyd claims nothing
	}
	for _, tt := range tests {
		if got := m.Consistent(tt.maxError); got != tt.want {
			t.Errorf("max_error %g: consistent %v, want %v", tt.maxError, got, tt.want)
		}
	}
}

// The fit tests: the server's processing time within [0, round trip], and
// the root distance (δ + root delay)/2 + root dispersion at most the maximum.
// Binary fractions keep the boundaries exact.
func TestUnfit(t *testing.T) {
	tests := []struct {
		name        string
		m           Measurement
		maxDistance time.Duration
		want        string // "" for fit
	}{
		{"a good exchange", Measurement{Delay: 0.002, Processing: 0.001, RootDelay: 0.01, RootDispersion: 0.001}, DefaultMaxDistance, ""},
		{"transmit 2000 s before receive", Measurement{Delay: 2000.001, Processing: -2000},
			DefaultMaxDistance, "the server's transmit time is 2000.000000 s before its receive time, so the delay (2000.001000 s) would exceed the round trip (0.001000 s)"},
		{"transmit a microsecond before receive", Measurement{Delay: 0.001001, Processing: -0.000001},
			DefaultMaxDistance, "the server's transmit time is 0.000001 s before its receive time"},
		{"processing beyond the round trip", Measurement{Delay: -0.375, Processing: 0.5},
			DefaultMaxDistance, "the server's processing time (0.500000 s) exceeds the round trip (0.125000 s)"},
		{"root distance at the maximum", Measurement{Delay: 0.5, RootDelay: 1.5, RootDispersion: 2}, DefaultMaxDistance, ""},
		{"root distance 2⁻¹⁶ s above", Measurement{Delay: 0.5, RootDelay: 1.5, RootDispersion: 2 + 1.0/65536}, DefaultMaxDistance,
			"root distance (delay + root delay)/2 + root dispersion = 3.000015 s is above the maximum of 3s"},
		{"root dispersion 10000 s", Measurement{Offset: 5000, RootDispersion: 10000}, DefaultMaxDistance,
			"root distance (delay + root delay)/2 + root dispersion = 10000.000000 s is above the maximum of 3s"},
		{"root delay 7000 s", Measurement{Offset: 3000, RootDelay: 7000}, DefaultMaxDistance,
			"root distance (delay + root delay)/2 + root dispersion = 3500.000000 s is above the maximum of 3s"},
		{"root distance 2 s, maximum 1 s", Measurement{RootDispersion: 2}, time.Second, "= 2.000000 s is above the maximum of 1s"},
		{"root delay 7000 s, maximum 4000 s", Measurement{Offset: 3000, RootDelay: 7000}, 4000 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Unfit(tt.maxDistance)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unfit: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("unfit %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzCheck feeds arbitrary replies to the checks: nothing panics, what
// passes is finite, and what is also fit is a measurement a bound can be
// drawn from: its delay within the 1 ms round trip.
func FuzzCheck(f *testing.F) {
	const txSec, txFrac = 0xdeadbeef, 0x01020304
	good := protocol.Packet{Settings: 4<<3 | 4, Stratum: 2, OrigTimeSec: txSec, OrigTimeFrac: txFrac,
		RxTimeSec: 0xeb000000, RxTimeFrac: 1, TxTimeSec: 0xeb000000, TxTimeFrac: 2}
	b, _ := good.Bytes()
	f.Add(b)
	f.Add(b[:47])
	f.Add(append(b, make([]byte, 20)...))
	f.Fuzz(func(t *testing.T, reply []byte) {
		t1 := time.Now()
		m, err := check(reply, txSec, txFrac, t1, t1.Add(time.Millisecond))
		if err != nil {
			return
		}
		for _, v := range []float64{m.Offset, m.Delay, m.RootDelay, m.RootDispersion, m.ErrorBound()} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted a reply with a non-finite value: %+v", m)
			}
		}
		if m.Stratum < 1 || m.Stratum > 15 {
			t.Fatalf("accepted an impossible stratum: %+v", m)
		}
		if m.Unfit(DefaultMaxDistance) != nil {
			return
		}
		if m.Delay < 0 || m.Processing < 0 || m.Delay > 0.001 || m.RootDistance() > DefaultMaxDistance.Seconds() || m.ErrorBound() < math.Abs(m.Offset) {
			t.Fatalf("a fit measurement no bound can be drawn from: %+v", m)
		}
	})
}

// NTP timestamps carry seconds modulo 2³² (an era is 136 years, the first
// ending 2036-02-07T06:28:16Z). An honest server whose clock agrees with ours
// must measure an offset of 0 and the true delay on both sides of a rollover,
// and across it: RFC 5905 takes on-wire differences modulo 2³² s.
func TestCheckAcrossEraRollover(t *testing.T) {
	rollover := time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC)
	const txSec, txFrac = 0x01020304, 0x05060708
	tests := []struct {
		name        string
		t1          time.Time
		serverAhead time.Duration
	}{
		{"era 0, year 2026", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), 0},
		{"one second before the rollover", rollover.Add(-time.Second), 0},
		{"T1 and T2 before, T3 and T4 after", rollover.Add(-1500 * time.Microsecond), 0},
		{"T1 before, T2 to T4 after", rollover.Add(-500 * time.Microsecond), 0},
		{"one second after the rollover", rollover.Add(time.Second), 0},
		{"server 5 ms ahead, across the rollover", rollover.Add(-4 * time.Millisecond), 5 * time.Millisecond},
		// Not 3 ms: T3 would fall on the rollover itself and be all zeros,
		// which NTP reserves for "no time".
		{"server 5 ms behind, across the rollover", rollover.Add(3500 * time.Microsecond), -5 * time.Millisecond},
		{"era 1, year 2100", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 1 ms out, 1 ms in the server, 1 ms back.
			t2 := tt.t1.Add(time.Millisecond + tt.serverAhead)
			t3 := t2.Add(time.Millisecond)
			t4 := tt.t1.Add(3 * time.Millisecond)
			rxSec, rxFrac := protocol.Time(t2)
			txS, txF := protocol.Time(t3)
			p := protocol.Packet{Settings: 4<<3 | 4, Stratum: 1, OrigTimeSec: txSec, OrigTimeFrac: txFrac,
				RxTimeSec: rxSec, RxTimeFrac: rxFrac, TxTimeSec: txS, TxTimeFrac: txF}
			b, _ := p.Bytes()
			m, err := check(b, txSec, txFrac, tt.t1, t4)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.serverAhead.Seconds(); math.Abs(m.Offset-want) > 2e-9 {
				t.Errorf("offset %.10g s, want %g s", m.Offset, want)
			}
			if math.Abs(m.Delay-0.002) > 2e-9 {
				t.Errorf("delay %.10g s, want 0.002 s", m.Delay)
			}
		})
	}
}

func TestReferenceName(t *testing.T) {
	tests := []struct {
		stratum uint8
		refid   uint32
		want    string
	}{
		{1, 0x47505300, "GPS"},
		{1, 0x50505300, "PPS"},
		{1, 0x50484330, "PHC0"},
		{1, 0x01020304, ""}, // not letters: no name to give
		{2, 0xC0000207, "192.0.2.7"},
		{3, 0x0A000001, "10.0.0.1"},
	}
	for _, tt := range tests {
		if got := (Measurement{Stratum: tt.stratum, ReferenceID: tt.refid}).ReferenceName(); got != tt.want {
			t.Errorf("stratum %d refid %08X: %q, want %q", tt.stratum, tt.refid, got, tt.want)
		}
	}
}
