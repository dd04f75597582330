package chronyclient

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/facebook/time/ntp/chrony"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// This file is the only one that touches facebook/time's packet types. Its
// request structs are encoded once per distinct request; the sequence number
// is stamped into the bytes before each exchange. Its reply decoder is only
// reachable through Client.Communicate, so the replies the receiver reads are
// decoded here from the same wire layout (candm.h), without reflection.

func encodeRequest(p chrony.RequestPacket) []byte {
	var buf bytes.Buffer
	// binary.Write only fails for types without a fixed size, which the
	// request structs are not.
	if err := binary.Write(&buf, binary.BigEndian, p); err != nil {
		panic(fmt.Sprintf("encode %T: %v", p, err))
	}
	return buf.Bytes()
}

func trackingRequest() []byte    { return encodeRequest(chrony.NewTrackingPacket()) }
func sourceCountRequest() []byte { return encodeRequest(chrony.NewSourcesPacket()) }
func serverStatsRequest() []byte { return encodeRequest(chrony.NewServerStatsPacket()) }
func sourceDataRequest(index int) []byte {
	return encodeRequest(chrony.NewSourceDataPacket(int32(index)))
}
func sourceStatsRequest(index int) []byte {
	return encodeRequest(chrony.NewSourceStatsPacket(int32(index)))
}
func sourceNameRequest(ip ipAddr) []byte {
	return encodeRequest(chrony.NewNTPSourceNamePacket(&chrony.IPAddr{IP: ip.IP, Family: ip.Family}))
}

// ipAddr is chrony's IPAddr as it travels: 16 address bytes and a family.
type ipAddr struct {
	IP     [16]byte
	Family uint16
}

const (
	familyUnspec = chrony.IPAddrUnspec
	familyInet4  = chrony.IPAddrInet4
	familyInet6  = chrony.IPAddrInet6
)

func (ip ipAddr) String() string {
	return (&chrony.IPAddr{IP: ip.IP, Family: ip.Family}).String()
}

// refid4 is the first four address bytes, where a refclock's refid travels.
func (ip ipAddr) refid4() uint32 { return binary.BigEndian.Uint32(ip.IP[:4]) }

func refidString(refid uint32) string { return chrony.RefidToString(refid) }

// wireReader reads big-endian fields in order from a reply's data, which
// transport.CheckReply has already found long enough for its reply type.
type wireReader struct {
	b   []byte
	off int
	err error
}

func (r *wireReader) take(n int) []byte {
	if r.err != nil || r.off+n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("reply data ends at %d bytes, field at %d wants %d", len(r.b), r.off, n)
		}
		return make([]byte, n)
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *wireReader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *wireReader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *wireReader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

func (r *wireReader) ip() ipAddr {
	var ip ipAddr
	copy(ip.IP[:], r.take(16))
	ip.Family = r.u16()
	r.u16() // padding
	return ip
}

// timespec is chrony's Timespec: Unix seconds split high and low (no NTP era,
// no wrap in 2036, 2038 or 2106), nanoseconds. chronyc reads it the same way.
func (r *wireReader) timespec() time.Time {
	high, low, nsec := r.u32(), r.u32(), r.u32()
	if high == 0x7fffffff { // a 32-bit chronyd's "no high part"
		high = 0
	}
	return time.Unix(int64(uint64(high)<<32|uint64(low)), int64(nsec))
}

// float is chrony's Float: a 7-bit signed exponent and a 25-bit signed
// coefficient, coef × 2^(exp−25). Every value is finite.
func (r *wireReader) float() float64 {
	const expBits, coefBits = 7, 25
	x := r.u32()
	exp := int32(x >> coefBits)
	if exp >= 1<<(expBits-1) {
		exp -= 1 << expBits
	}
	coef := int32(x % (1 << coefBits))
	if coef >= 1<<(coefBits-1) {
		coef -= 1 << coefBits
	}
	return math.Ldexp(float64(coef), int(exp-coefBits))
}

// Replies, decoded. Each takes the whole checked reply, header included.

func decodeTracking(reply []byte, at time.Time) (Tracking, error) {
	r := wireReader{b: transport.ReplyBody(reply)}
	t := Tracking{ReceivedAt: at}
	t.RefID = r.u32()
	ip := r.ip()
	t.Stratum = r.u16()
	t.LeapStatus = r.u16()
	t.RefTime = r.timespec()
	t.CurrentCorrection = r.float()
	t.LastOffset = r.float()
	t.RMSOffset = r.float()
	t.FrequencyPPM = r.float()
	t.ResidualFreqPPM = r.float()
	t.SkewPPM = r.float()
	t.RootDelay = r.float()
	t.RootDispersion = r.float()
	t.LastUpdateInterval = r.float()
	switch {
	case ip.Family == familyInet4 || ip.Family == familyInet6:
		t.ReferenceName = ip.String()
	case t.RefID != 0:
		// A refclock reference has no address; chronyc shows its refid as text.
		t.ReferenceName = refidString(t.RefID)
	}
	return t, r.err
}

func decodeSourceCount(reply []byte) (int, error) {
	r := wireReader{b: transport.ReplyBody(reply)}
	n := r.u32()
	if r.err != nil {
		return 0, r.err
	}
	if n > maxSources {
		return 0, fmt.Errorf("chronyd claims %d sources, more than %d", n, maxSources)
	}
	return int(n), nil
}

// decodeSourceData returns the source and the address chronyd filed it
// under, which its sourcestats and sourcename replies are matched against.
func decodeSourceData(reply []byte) (Source, ipAddr, error) {
	r := wireReader{b: transport.ReplyBody(reply)}
	ip := r.ip()
	var s Source
	s.Poll = int16(r.u16())
	s.Stratum = r.u16()
	s.State = r.u16()
	s.Mode = r.u16()
	r.u16() // flags
	s.Reachability = r.u16()
	s.SinceSample = r.u32()
	s.MeasuredOffset = r.float()
	s.Offset = r.float()
	s.OffsetError = r.float()
	s.HasSample = s.SinceSample != noSample
	s.Address = sourceAddress(ip, s.Mode)
	return s, ip, r.err
}

// sourceAddress names a source as chronyc does: a refclock's address field
// holds its refid, which chronyc prints as text (PHC0, GPS, PPS).
func sourceAddress(ip ipAddr, mode uint16) string {
	if mode == ModeRefclock && ip.Family == familyInet4 {
		return refidString(ip.refid4())
	}
	return ip.String()
}

// sourceStatsFor returns the statistics in reply if they are those of the
// source chronyd filed at ip, nil if they belong to another.
func sourceStatsFor(reply []byte, ip ipAddr) (*SourceStats, error) {
	r := wireReader{b: transport.ReplyBody(reply)}
	refid := r.u32()
	statsIP := r.ip()
	s := &SourceStats{}
	s.Samples = r.u32()
	s.Runs = r.u32()
	s.SpanSeconds = r.u32()
	s.StdDev = r.float()
	s.ResidualFreqPPM = r.float()
	s.SkewPPM = r.float()
	s.Offset = r.float()
	s.OffsetError = r.float()
	if r.err != nil {
		return nil, r.err
	}
	// The source list can change between two requests; statistics of another
	// source must not be filed under this one. For a refclock chronyd leaves
	// the statistics' address unspecified and gives the refid, which
	// sourcedata carries as an IPv4 address.
	same := statsIP == ip
	if statsIP.Family == familyUnspec {
		same = ip.Family == familyInet4 && ip.refid4() == refid
	}
	if !same {
		return nil, nil
	}
	return s, nil
}

func decodeSourceName(reply []byte) (string, error) {
	r := wireReader{b: transport.ReplyBody(reply)}
	name := r.take(256)
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name), r.err
}

// decodeServerStats reads whichever of the four layouts chronyd sent; each
// chrony release sends the newest it has (the fourth is 64-bit).
func decodeServerStats(reply []byte, at time.Time) (ServerStats, error) {
	r := wireReader{b: transport.ReplyBody(reply)}
	s := ServerStats{ReceivedAt: at}
	u := r.u32
	var wide func() uint64
	switch transport.ReplyType(reply) {
	case transport.RpyServerStats:
		s.NTPHits, s.CmdHits, s.NTPDrops, s.CmdDrops, s.LogDrops = uint64(u()), uint64(u()), uint64(u()), uint64(u()), uint64(u())
		return s, r.err
	case transport.RpyServerStats4:
		wide = r.u64
	default:
		wide = func() uint64 { return uint64(u()) }
	}
	s.NTPHits, s.NKEHits, s.CmdHits = wide(), wide(), wide()
	s.NTPDrops, s.NKEDrops, s.CmdDrops = wide(), wide(), wide()
	s.LogDrops, s.NTPAuthHits = wide(), wide()
	s.HasNKE, s.HasAuth = true, true
	if transport.ReplyType(reply) != transport.RpyServerStats2 {
		s.NTPInterleavedHits = wide()
		s.HasInterleaved = true
	}
	return s, r.err
}
