package chronyreceiver

import (
	"math"
	"net"
	"testing"
	"time"

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
