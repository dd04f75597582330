package chronyclient

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facebook/time/ntp/chrony"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// replayConn hands one fixed packet, as the answer to whatever was asked, to
// facebook/time's client, through the same reply check the socket uses.
type replayConn struct {
	packet   []byte
	cmd      uint16
	seq      uint32
	patchSeq bool
}

func (r *replayConn) Write(p []byte) (int, error) {
	r.cmd = binary.BigEndian.Uint16(p[4:6])
	r.seq = binary.BigEndian.Uint32(p[8:12])
	return len(p), nil
}

func (r *replayConn) Read(p []byte) (int, error) {
	b := append([]byte(nil), r.packet...)
	if r.patchSeq && len(b) >= 20 {
		// Let the fuzzer reach past the sequence check.
		binary.BigEndian.PutUint32(b[16:20], r.seq)
	}
	if err := transport.CheckReply(b, r.cmd, r.seq); err != nil {
		return 0, err
	}
	return copy(p, b), nil
}

// FuzzReply feeds arbitrary packets as the reply to every request the
// receiver makes. Nothing may panic, and whatever is accepted must decode to
// values the scraper can export.
func FuzzReply(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "replies", "*.bin"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ip := &chrony.IPAddr{Family: chrony.IPAddrInet4, IP: chrony.IPToBytes([]byte{127, 0, 0, 1})}
	requests := []chrony.RequestPacket{
		chrony.NewTrackingPacket(),
		chrony.NewSourcesPacket(),
		chrony.NewSourceDataPacket(0),
		chrony.NewSourceStatsPacket(0),
		chrony.NewNTPSourceNamePacket(ip),
		chrony.NewServerStatsPacket(),
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		for _, req := range requests {
			for _, patchSeq := range []bool{false, true} {
				conn := &replayConn{packet: packet, patchSeq: patchSeq}
				resp, err := (&chrony.Client{Connection: conn}).Communicate(req)
				if err != nil {
					if errors.Is(err, transport.ErrStale) && patchSeq {
						t.Fatalf("sequence patched but reply called stale: %v", err)
					}
					continue
				}
				if resp.GetStatus() != 0 {
					t.Fatalf("accepted a reply with status %v", resp.GetStatus())
				}
				checkDecodes(t, req.GetCommand(), resp)
			}
		}
	})
}

func checkDecodes(t *testing.T, cmd chrony.CommandType, resp chrony.ResponsePacket) {
	t.Helper()
	var err error
	switch cmd {
	case transport.CmdTracking:
		_, err = trackingFrom(resp, time.Now())
	case transport.CmdNSources:
		// A count beyond maxSources is refused with an error, by design.
		if n, err := sourceCountFrom(resp); err == nil && (n < 0 || n > maxSources) {
			t.Fatalf("source count %d passed", n)
		}
	case transport.CmdSourceData:
		var src Source
		src, _, err = sourceFrom(resp)
		if err == nil && math.IsNaN(math.Ldexp(1, int(src.Poll))) {
			t.Fatalf("poll %d gives no interval", src.Poll)
		}
	case transport.CmdSourceStats:
		ip := &chrony.IPAddr{}
		_, err = statsFrom(resp, ip)
	case transport.CmdServerStats:
		_, err = serverStatsFrom(resp, time.Now())
	}
	if err != nil {
		t.Fatalf("reply passed the check but does not map for command %d: %v", cmd, err)
	}
}
