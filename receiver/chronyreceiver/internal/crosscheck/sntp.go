// Package crosscheck measures the local clock against independent NTP
// servers with single SNTP exchanges (RFC 5905 client mode, RFC 4330's
// checks), so that chronyd's own bound can be held against UTC from outside.
package crosscheck

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/facebook/time/ntp/protocol"
)

// Measurement is one exchange with a server that passed the checks of a
// reply; Unfit says whether a bound may be drawn from it.
type Measurement struct {
	// At is the local time the reply arrived.
	At time.Time
	// Offset is θ of RFC 5905: the server's time minus the local clock's, in
	// seconds.
	Offset float64
	// Delay is δ, the round trip less the server's own time, in seconds.
	Delay float64
	// Processing is the server's own time, T3 − T2, in seconds.
	Processing float64
	// RootDelay and RootDispersion are the server's, in seconds: how far the
	// server itself may be from its UTC reference.
	RootDelay, RootDispersion float64
	Stratum                   uint8
	// ReferenceID is the server's refid: at stratum 1 up to four ASCII
	// letters naming its reference clock (GPS, PPS), above it the IPv4
	// address of its own server (or a hash of an IPv6 one).
	ReferenceID uint32
	// Address is the address that answered (names are resolved per query).
	Address string
}

// DefaultMaxDistance is chrony's default maxdistance.
const DefaultMaxDistance = 3 * time.Second

// RootDistance is how far the server's time, as read here, may be from the
// server's UTC: (δ + root delay)/2 + root dispersion. RFC 5905's root
// distance adds the peer's jitter and the dispersion grown since the
// exchange, which a single fresh exchange does not have.
func (m Measurement) RootDistance() float64 {
	return (m.Delay+m.RootDelay)/2 + m.RootDispersion
}

// Unfit says why no bound may be drawn from the exchange, nil when one may:
// the server's processing time is negative (then δ exceeds the round trip
// T4 − T1) or exceeds the round trip (δ negative), or the root distance is
// above maxDistance (as chrony's maxdistance test, and RFC 5905's fit test).
// The numbers are printed in one format, so that the reason reads the same
// from one exchange to the next.
func (m Measurement) Unfit(maxDistance time.Duration) error {
	roundTrip := m.Delay + m.Processing
	switch {
	case m.Processing < 0:
		return fmt.Errorf("the server's transmit time is %.6f s before its receive time, so the delay (%.6f s) would exceed the round trip (%.6f s)",
			-m.Processing, m.Delay, roundTrip)
	case m.Delay < 0:
		return fmt.Errorf("the server's processing time (%.6f s) exceeds the round trip (%.6f s)", m.Processing, roundTrip)
	case m.RootDistance() > maxDistance.Seconds():
		return fmt.Errorf("root distance (delay + root delay)/2 + root dispersion = %.6f s is above the maximum of %s", m.RootDistance(), maxDistance)
	}
	return nil
}

// ErrorBound bounds the local clock's error against the server's UTC:
// |θ| + δ/2 + the server's root delay/2 + root dispersion.
func (m Measurement) ErrorBound() float64 {
	return math.Abs(m.Offset) + m.RootDistance()
}

// Consistent tells whether chronyd's claim, |error| ≤ maxError, and this
// measurement can both be true: whether [−maxError, +maxError] and
// [θ − (δ/2 + λ), θ + (δ/2 + λ)] overlap, λ being the server's root delay/2 +
// root dispersion. An unsynchronised chronyd (+Inf) claims nothing, so it is
// consistent with anything.
func (m Measurement) Consistent(maxError float64) bool {
	return math.Abs(m.Offset) <= maxError+m.RootDistance()
}

// KissError is a Kiss-o'-Death reply (stratum 0 with a kiss code).
type KissError struct{ Code string }

func (e *KissError) Error() string { return fmt.Sprintf("Kiss-o'-Death %q", e.Code) }

// Stop says the server asked us to stop querying it (DENY, RSTR).
func (e *KissError) Stop() bool { return e.Code == "DENY" || e.Code == "RSTR" }

// RateLimited says the server asked us to slow down (RATE).
func (e *KissError) RateLimited() bool { return e.Code == "RATE" }

const (
	modeClient = 3
	modeServer = 4
	version    = 4
	leapAlarm  = 3
	maxStratum = 15
)

// Query makes one SNTP exchange with server (host:port). The socket is
// connected to the address asked, so the kernel drops replies from any other
// address; a reply must also echo our random transmit timestamp as its origin,
// be a version 3 or 4 server-mode packet from a synchronised stratum 1–15
// server, and carry a transmit time. A datagram that fails the checks is
// dropped and the wait goes on, up to ctx's deadline. A reply that passes
// may still be unfit to bound the clock: that is Measurement.Unfit's to say.
func Query(ctx context.Context, server string) (Measurement, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return Measurement{}, fmt.Errorf("cross-check server %s: %w", server, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	// A random transmit timestamp (as chrony sends): it reveals nothing of
	// our clock and an off-path forger cannot guess it.
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	req := protocol.Packet{
		Settings:    version<<3 | modeClient,
		TxTimeSec:   binary.BigEndian.Uint32(nonce[:4]),
		TxTimeFrac:  binary.BigEndian.Uint32(nonce[4:]),
		OrigTimeSec: 0,
	}
	b, err := req.Bytes()
	if err != nil {
		return Measurement{}, err
	}
	t1 := time.Now()
	if _, err := conn.Write(b); err != nil {
		return Measurement{}, fmt.Errorf("cross-check server %s: send: %w", server, err)
	}
	buf := make([]byte, 1500)
	var rejected error
	for {
		n, err := conn.Read(buf)
		t4 := time.Now()
		if err != nil {
			if rejected != nil {
				return Measurement{}, fmt.Errorf("cross-check server %s: no valid reply (%v): %w", server, rejected, err)
			}
			return Measurement{}, fmt.Errorf("cross-check server %s: no reply: %w", server, err)
		}
		m, err := check(buf[:n], req.TxTimeSec, req.TxTimeFrac, t1, t4)
		var kiss *KissError
		if errors.As(err, &kiss) {
			return Measurement{}, fmt.Errorf("cross-check server %s: %w", server, err)
		}
		if err != nil {
			rejected = err
			continue
		}
		m.Address = conn.RemoteAddr().String()
		return m, nil
	}
}

// check validates a reply to the request whose transmit timestamp was
// (txSec, txFrac), sent at local time t1 and received at t4.
func check(b []byte, txSec, txFrac uint32, t1, t4 time.Time) (Measurement, error) {
	var p protocol.Packet
	// The 48-byte header is all SNTP reads; a MAC or extension fields after it
	// are not ours to judge.
	if err := p.UnmarshalBinary(b[:min(len(b), protocol.PacketSizeBytes)]); err != nil {
		return Measurement{}, fmt.Errorf("bad packet: %w", err)
	}
	leap, vn, mode := p.Settings>>6, p.Settings>>3&7, p.Settings&7
	switch {
	case p.OrigTimeSec != txSec || p.OrigTimeFrac != txFrac:
		return Measurement{}, errors.New("origin timestamp is not our transmit timestamp")
	case mode != modeServer:
		return Measurement{}, fmt.Errorf("mode %d, want %d (server)", mode, modeServer)
	case vn < 3 || vn > 4:
		return Measurement{}, fmt.Errorf("version %d, want 3 or 4", vn)
	case p.Stratum == 0:
		var code [4]byte
		binary.BigEndian.PutUint32(code[:], p.ReferenceID)
		return Measurement{}, &KissError{Code: string(code[:])}
	case p.Stratum > maxStratum:
		return Measurement{}, fmt.Errorf("stratum %d: the server is not synchronised", p.Stratum)
	case leap == leapAlarm:
		return Measurement{}, errors.New("leap indicator 3: the server is not synchronised")
	case p.TxTimeSec == 0 && p.TxTimeFrac == 0:
		return Measurement{}, errors.New("zero transmit timestamp")
	case p.RxTimeSec == 0 && p.RxTimeFrac == 0:
		return Measurement{}, errors.New("zero receive timestamp")
	}
	// Differences of on-wire timestamps are taken modulo 2³² s, as RFC 5905
	// does: right whenever the clocks are within 68 years of each other,
	// whichever NTP era (136 years, the first ending in 2036) each is in.
	t1wall := t1.Round(0)
	// T4 by the monotonic clock: a step of the system clock during the
	// exchange must not count as delay. The offset compares wall clocks.
	t4wall := t1wall.Add(t4.Sub(t1))
	t2 := fromWire(p.RxTimeSec, p.RxTimeFrac)
	t3 := fromWire(p.TxTimeSec, p.TxTimeFrac)
	processing := t3.sub(t2)
	return Measurement{
		At:             t4,
		Offset:         (t2.sub(fromTime(t1wall)) + t3.sub(fromTime(t4wall))) / 2,
		Delay:          t4.Sub(t1).Seconds() - processing,
		Processing:     processing,
		RootDelay:      shortFormat(p.RootDelay),
		RootDispersion: shortFormat(p.RootDispersion),
		Stratum:        p.Stratum,
		ReferenceID:    p.ReferenceID,
	}, nil
}

// ntpTimestamp is NTP's 64-bit timestamp: seconds of the era in the high 32
// bits, the fraction of a second in the low 32.
type ntpTimestamp uint64

func fromWire(sec, frac uint32) ntpTimestamp { return ntpTimestamp(uint64(sec)<<32 | uint64(frac)) }

// unixToNTP is the time from NTP's epoch (1900) to Unix's, in seconds.
const unixToNTP = 2_208_988_800

// fromTime is t as NTP carries it: the era goes with the bits shifted out.
func fromTime(t time.Time) ntpTimestamp {
	frac := (uint64(t.Nanosecond())<<32 + 5e8) / 1e9
	return ntpTimestamp(uint64(t.Unix()+unixToNTP)<<32 + frac)
}

// sub is a − b in seconds, modulo 2³² s: the wrapped difference read as
// signed.
func (a ntpTimestamp) sub(b ntpTimestamp) float64 {
	return float64(int64(a-b)) / (1 << 32)
}

// shortFormat reads NTP's 16.16 fixed-point seconds.
func shortFormat(v uint32) float64 { return float64(v) / 65536 }

// ReferenceName is the refid as ntpq and chronyc print it: the reference
// clock's letters at stratum 1, a dotted quad above it (the upstream's IPv4
// address, or four bytes of a hash of an IPv6 one, which no reply tells
// apart).
func (m Measurement) ReferenceName() string {
	b := [4]byte{byte(m.ReferenceID >> 24), byte(m.ReferenceID >> 16), byte(m.ReferenceID >> 8), byte(m.ReferenceID)}
	if m.Stratum == 1 {
		name := strings.TrimRight(string(b[:]), "\x00")
		for _, r := range name {
			if r < 0x20 || r > 0x7e {
				return ""
			}
		}
		return name
	}
	return net.IPv4(b[0], b[1], b[2], b[3]).String()
}
