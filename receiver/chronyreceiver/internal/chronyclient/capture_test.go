package chronyclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facebook/time/ntp/chrony"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

var (
	capture    = flag.Bool("capture", false, "capture testdata/replies/*.bin from a real chronyd")
	captureDir = flag.String("capture-dir", filepath.Join("testdata", "replies"), "where -capture writes")
)

// TestCaptureReplies records real chronyd replies as the golden inputs of the
// decoding tests and the fuzz seed corpus. Run with -capture to refresh them;
// with CHRONYLAB_CHRONYD=/path/to/chronyd and -capture-dir
// testdata/replies/chrony-X.Y to record another chrony release.
func TestCaptureReplies(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to record replies from a real chronyd")
	}
	lab := chronylab.Start(t, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	conn, err := transport.Dial(mustEndpoint(t, lab.UnixEndpoint()), transport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ntpSource := &chrony.IPAddr{Family: chrony.IPAddrInet4, IP: chrony.IPToBytes([]byte{127, 0, 0, 1})}
	requests := map[string]chrony.RequestPacket{
		"tracking":         chrony.NewTrackingPacket(),
		"sources":          chrony.NewSourcesPacket(),
		"sourcedata-ntp":   chrony.NewSourceDataPacket(1),
		"sourcedata-phc0":  chrony.NewSourceDataPacket(0),
		"sourcestats-ntp":  chrony.NewSourceStatsPacket(1),
		"sourcestats-phc0": chrony.NewSourceStatsPacket(0),
		"sourcename-ntp":   chrony.NewNTPSourceNamePacket(ntpSource),
		"serverstats":      chrony.NewServerStatsPacket(),
	}
	dir := *captureDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, req := range requests {
		req.SetSequence(uint32(time.Now().UnixNano()))
		var buf bytes.Buffer
		if err := binary.Write(&buf, binary.BigEndian, req); err != nil {
			t.Fatal(err)
		}
		items := []transport.Pending{{Req: buf.Bytes()}}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := conn.Exchange(ctx, items)
		cancel()
		if err == nil {
			err = items[0].Err
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reply := items[0].Reply
		if err := os.WriteFile(filepath.Join(dir, name+".bin"), reply, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustEndpoint(t *testing.T, s string) transport.Endpoint {
	t.Helper()
	ep, err := transport.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}
