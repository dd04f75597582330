package chronyreceiver

import (
	"context"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facebook/time/ntp/protocol"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
)

// crossCheckScrape scrapes s until every server has a cross-check result.
func crossCheckScrape(t *testing.T, s *chronyScraper, servers ...string) map[string]map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		md, err := scrapeOnce(t, s)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]map[string]float64{}
		for _, server := range servers {
			got[server] = map[string]float64{}
			for _, name := range []string{"ntp.cross_check.up", "ntp.cross_check.offset", "ntp.cross_check.delay", "ntp.cross_check.error_bound", "ntp.cross_check.consistent"} {
				if p, ok := find(md, name, "server.address", server); ok {
					got[server][name] = p.value
				}
			}
		}
		complete := true
		for _, server := range servers {
			complete = complete && got[server]["ntp.cross_check.up"] == 1 && len(got[server]) == 5
		}
		if complete {
			got["chronyd"] = map[string]float64{"max_error": value(t, md, "ntp.time.max_error")}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete cross-check after 20 s: %v\n%s", got, dump(md))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Against real daemons: the chronyd under test follows an upstream chronyd
// (local stratum 1); cross-checked against that same upstream, the two agree.
// A second chronyd whose only source is read 5 ms off (chrony's `offset`)
// serves time 5 ms away from the true clock: cross-checked against it, the
// offset is 5 ms and the claim of a microsecond bound cannot be true.
func TestIntegrationCrossCheck(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	off := chronylab.Start(t, chronylab.Options{SourceOffset: 0.005, ServeNTP: true})
	lab.WaitSynced()
	off.WaitSynced()
	cfg := labConfig(lab.UnixEndpoint())
	cfg.CrossCheck.Servers = []string{lab.NTPServer(), off.ClientNTPServer()}
	cfg.CrossCheck.Interval = time.Second
	s := startScraper(t, cfg)
	got := crossCheckScrape(t, s, cfg.CrossCheck.Servers...)

	maxError := got["chronyd"]["max_error"]
	same := got[lab.NTPServer()]
	if same["ntp.cross_check.consistent"] != 1 {
		t.Errorf("against its own upstream: consistent = %v", same["ntp.cross_check.consistent"])
	}
	if o, b := same["ntp.cross_check.offset"], same["ntp.cross_check.error_bound"]; math.Abs(o) > b || math.Abs(o) > 0.001 {
		t.Errorf("against its own upstream: offset %.6f s, bound %.6f s", o, b)
	}
	// chronyd reads its source 5 ms off, believes its clock 5 ms slow and,
	// with -x, cannot correct it: what it serves runs 5 ms ahead.
	ahead := got[off.ClientNTPServer()]
	if o := ahead["ntp.cross_check.offset"]; math.Abs(o-0.005) > 0.0005 {
		t.Errorf("against a server 5 ms ahead: offset %.6f s", o)
	}
	if b := ahead["ntp.cross_check.error_bound"]; b < 0.005 {
		t.Errorf("against a server 5 ms ahead: error bound %.6f s", b)
	}
	if ahead["ntp.cross_check.consistent"] != 0 {
		t.Errorf("against a server 5 ms off with max_error %.6f s: consistent = %v", maxError, ahead["ntp.cross_check.consistent"])
	}
}

// A cross-check server that never answers neither delays nor fails the
// chrony scrape: scrapes stay fast and read chronyd, and the server is down
// once its query has timed out.
func TestCrossCheckDeadServerDoesNotHoldUpScrapes(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cfg := labConfig(lab.UnixEndpoint())
	cfg.CrossCheck.Servers = []string{silent.LocalAddr().String()}
	cfg.CrossCheck.Timeout = 2 * time.Second
	s := startScraper(t, cfg)
	deadline := time.Now().Add(10 * time.Second)
	for {
		start := time.Now()
		md, err := scrapeOnce(t, s)
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("a scrape took %s while the cross-check server is silent", took)
		}
		if err != nil || value(t, md, "chrony.up") != 1 {
			t.Fatalf("the chrony scrape failed: %v", err)
		}
		if p, ok := find(md, "ntp.cross_check.up", "server.address", silent.LocalAddr().String()); ok {
			if p.value != 0 {
				t.Fatalf("a silent server is up")
			}
			if _, ok := find(md, "ntp.cross_check.offset"); ok {
				t.Fatal("an offset is exported for a server that never answered")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the silent server was never reported down")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startNTPServer answers every NTP query on loopback with reply(request,
// arrival time) and returns its address.
func startNTPServer(t *testing.T, reply func(req protocol.Packet, now time.Time) protocol.Packet) string {
	t.Helper()
	return serveUDP(t, func(_ int, datagram []byte) []byte {
		var req protocol.Packet
		if req.UnmarshalBinary(datagram) != nil {
			return nil
		}
		p := reply(req, time.Now())
		b, _ := p.Bytes()
		return b
	})
}

// ntpReply is a stratum 1 server's reply to req, stamped received at t2 and
// sent at t3, with the root delay and dispersion given.
func ntpReply(req protocol.Packet, t2, t3 time.Time, rootDelay, rootDispersion time.Duration) protocol.Packet {
	rxSec, rxFrac := protocol.Time(t2)
	txSec, txFrac := protocol.Time(t3)
	return protocol.Packet{
		Settings: 4<<3 | 4, Stratum: 1, ReferenceID: 0x47505300,
		RootDelay: uint32(rootDelay.Seconds() * 65536), RootDispersion: uint32(rootDispersion.Seconds() * 65536),
		OrigTimeSec: req.TxTimeSec, OrigTimeFrac: req.TxTimeFrac,
		RxTimeSec: rxSec, RxTimeFrac: rxFrac, TxTimeSec: txSec, TxTimeFrac: txFrac,
	}
}

// A reply a careful NTP client would not draw a bound from is unfit: its
// server answers, so it is up, but no offset, delay, error bound or
// consistency is sent for it. Each of these was "consistent 1" once.
func TestCrossCheckUnfitReplies(t *testing.T) {
	honest := startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
		return ntpReply(req, now, time.Now(), 0, time.Millisecond)
	})
	unfit := map[string]string{
		"transmit 2000 s before receive": startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
			return ntpReply(req, now.Add(1000*time.Second), now.Add(-1000*time.Second), 0, time.Millisecond)
		}),
		"5000 s ahead, root dispersion 10000 s": startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
			at := now.Add(5000 * time.Second)
			return ntpReply(req, at, at, 0, 10000*time.Second)
		}),
		"3000 s ahead, root delay 7000 s": startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
			at := now.Add(3000 * time.Second)
			return ntpReply(req, at, at, 7000*time.Second, time.Millisecond)
		}),
	}
	cfg := createDefaultConfig()
	cfg.CrossCheck.Servers = []string{honest}
	for _, server := range unfit {
		cfg.CrossCheck.Servers = append(cfg.CrossCheck.Servers, server)
	}
	cfg.CrossCheck.Interval = 100 * time.Millisecond
	cfg.CrossCheck.Timeout = 50 * time.Millisecond
	s := newFakeScraper(t, cfg, aksNode())
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })

	names := []string{"ntp.cross_check.up", "ntp.cross_check.offset", "ntp.cross_check.delay", "ntp.cross_check.error_bound", "ntp.cross_check.consistent"}
	var got map[string]map[string]float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		md, err := s.scrape(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]map[string]float64{}
		allUp := true
		for _, server := range cfg.CrossCheck.Servers {
			got[server] = map[string]float64{}
			for _, name := range names {
				if p, ok := find(md, name, "server.address", server); ok {
					got[server][name] = p.value
				}
			}
			allUp = allUp && got[server]["ntp.cross_check.up"] == 1
		}
		if allUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every server up after 10 s:\n%s", dump(md))
		}
	}
	if h := got[honest]; len(h) != len(names) || h["ntp.cross_check.consistent"] != 1 || math.Abs(h["ntp.cross_check.offset"]) > 0.01 {
		t.Errorf("honest server: %v, want every value, consistent and an offset near 0", h)
	}
	for why, server := range unfit {
		if want := map[string]float64{"ntp.cross_check.up": 1}; !maps.Equal(got[server], want) {
			t.Errorf("%s: %v, want only %v", why, got[server], want)
		}
	}
}

// cross_check::max_distance reaches the checker: an honest server 10 ms from
// its UTC is fit under the default 3 s, and unfit under 5 ms.
func TestCrossCheckMaxDistanceSetting(t *testing.T) {
	server := startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
		return ntpReply(req, now, time.Now(), 0, 10*time.Millisecond)
	})
	for _, tt := range []struct {
		maxDistance time.Duration
		want        []string
	}{
		{3 * time.Second, []string{"ntp.cross_check.consistent", "ntp.cross_check.delay", "ntp.cross_check.error_bound", "ntp.cross_check.offset", "ntp.cross_check.server.info", "ntp.cross_check.up"}},
		// Unfit: who the server is, and that it answers; nothing it bounds.
		{5 * time.Millisecond, []string{"ntp.cross_check.server.info", "ntp.cross_check.up"}},
	} {
		t.Run(tt.maxDistance.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.CrossCheck.Servers = []string{server}
			cfg.CrossCheck.Interval = 100 * time.Millisecond
			cfg.CrossCheck.Timeout = 50 * time.Millisecond
			cfg.CrossCheck.MaxDistance = tt.maxDistance
			s := newFakeScraper(t, cfg, aksNode())
			t.Cleanup(func() { _ = s.shutdown(context.Background()) })
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				md, err := s.scrape(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := find(md, "ntp.cross_check.up", "server.address", server); !ok {
					if time.Now().After(deadline) {
						t.Fatal("no cross-check after 10 s")
					}
					continue
				}
				var got []string
				for _, name := range metricNames(md) {
					if strings.HasPrefix(name, "ntp.cross_check.") {
						got = append(got, name)
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("sent %v, want %v\n%s", got, tt.want, dump(md))
				}
				return
			}
		})
	}
}

// Who each server is reaches the record: its stratum and refid from its
// latest valid reply, as chronyc and ntpq print them, so a report can say
// "stratum 1, GPS" or which server a stratum 2 one follows.
func TestCrossCheckServerIdentity(t *testing.T) {
	gps := startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
		return ntpReply(req, now, time.Now(), 0, time.Millisecond)
	})
	secondary := startNTPServer(t, func(req protocol.Packet, now time.Time) protocol.Packet {
		p := ntpReply(req, now, time.Now(), time.Millisecond, time.Millisecond)
		p.Stratum, p.ReferenceID = 2, 0xC0000207 // 192.0.2.7
		return p
	})
	cfg := createDefaultConfig()
	cfg.CrossCheck.Servers = []string{gps, secondary}
	cfg.CrossCheck.Interval = 100 * time.Millisecond
	cfg.CrossCheck.Timeout = 50 * time.Millisecond
	s := newFakeScraper(t, cfg, aksNode())
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })

	want := map[string]map[string]string{
		gps:       {"server.stratum": "1", "reference.id": "47505300", "reference.name": "GPS"},
		secondary: {"server.stratum": "2", "reference.id": "C0000207", "reference.name": "192.0.2.7"},
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		md, err := s.scrape(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pending := 0
		for server, attrs := range want {
			p, ok := find(md, "ntp.cross_check.server.info", "server.address", server)
			if !ok {
				pending++
				continue
			}
			if p.value != 1 {
				t.Errorf("%s: ntp.cross_check.server.info = %v, want 1", server, p.value)
			}
			for k, v := range attrs {
				if p.attrs[k] != v {
					t.Errorf("%s: %s = %q, want %q", server, k, p.attrs[k], v)
				}
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no identity for every server after 10 s:\n%s", dump(md))
		}
	}
}
