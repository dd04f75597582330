package chronyreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facebook/time/ntp/chrony"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// Run with `make bench`. A full scrape (tracking + sources + sourcestats for
// two sources, metrics built) is compared with one bare tracking round trip
// on the same chronyd, so the overhead reads as a ratio.

func benchLab(b *testing.B) *chronylab.Lab {
	lab := chronylab.Start(b, chronylab.Options{Refclock: true})
	lab.WaitSynced()
	return lab
}

func BenchmarkTrackingRoundTrip(b *testing.B) {
	lab := benchLab(b)
	for _, tr := range []struct{ name, endpoint string }{{"unix", lab.UnixEndpoint()}, {"udp", lab.UDPEndpoint()}} {
		b.Run(tr.name, func(b *testing.B) {
			ep, err := transport.ParseEndpoint(tr.endpoint)
			if err != nil {
				b.Fatal(err)
			}
			conn, err := transport.Dial(ep, transport.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			var req bytes.Buffer
			if err := binary.Write(&req, binary.BigEndian, chrony.NewTrackingPacket()); err != nil {
				b.Fatal(err)
			}
			items := []transport.Pending{{Req: req.Bytes()}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				transport.SetRequestSequence(items[0].Req, uint32(i+1))
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err := conn.Exchange(ctx, items)
				cancel()
				if err != nil || items[0].Err != nil {
					b.Fatal(err, items[0].Err)
				}
			}
		})
	}
}

func BenchmarkScrape(b *testing.B) {
	lab := benchLab(b)
	for _, tr := range []struct{ name, endpoint string }{{"unix", lab.UnixEndpoint()}, {"udp", lab.UDPEndpoint()}} {
		b.Run(tr.name, func(b *testing.B) {
			cfg := labConfig(tr.endpoint)
			s := newScraper(cfg, benchSettings(), newChronyReader)
			if err := s.start(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.shutdown(context.Background()) }()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				md, err := s.scrapeAndLog(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if md.DataPointCount() < 50 {
					b.Fatalf("only %d data points", md.DataPointCount())
				}
			}
		})
	}
}

func benchSettings() receiver.Settings { return receivertest.NewNopSettings(metadata.Type) }

// BenchmarkChronycTracking is the `chronyc tracking` sidecar's way: run `chronyc -c
// tracking` as a subprocess for every sample and parse its output.
func BenchmarkChronycTracking(b *testing.B) {
	lab := benchLab(b)
	chronyc := testkit.Program(b, "chronyc")
	args := []string{"-c", "-n", "-h", "127.0.0.1", "-p", strconv.Itoa(lab.CmdPort), "tracking"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := exec.Command(chronyc, args...).Output()
		if err != nil {
			b.Fatal(err)
		}
		fields := strings.Split(strings.TrimSpace(string(out)), ",")
		if len(fields) < 14 {
			b.Fatalf("chronyc printed %q", out)
		}
		// The three numbers the sidecar's formula needs.
		var sum float64
		for _, i := range []int{5, 10, 11} {
			f, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				b.Fatal(err)
			}
			sum += f
		}
		_ = sum
	}
}
