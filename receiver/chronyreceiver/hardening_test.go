package chronyreceiver

import (
	"context"
	"encoding/binary"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
)

// A chronyd stopped with SIGSTOP stops reading its socket; once its queue is
// full every write to it would block. Each scrape must still end by its
// deadline with chrony.up 0, for longer than the queue lasts, and the
// collector must stop promptly while a scrape is blocked. After SIGCONT the
// same receiver reads chronyd again.
func TestIntegrationWedgedChronyd(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	cfg := labConfig(lab.UnixEndpoint())
	cfg.Timeout = 300 * time.Millisecond
	s := startScraper(t, cfg)
	if _, err := scrapeOnce(t, s); err != nil {
		t.Fatal(err)
	}

	lab.SignalChronyd(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			lab.SignalChronyd(syscall.SIGCONT)
		}
	}()
	notReading := 0
	// 2 requests per scrape and resends: far more than the 11 datagrams a
	// unix socket queues.
	for i := range 20 {
		start := time.Now()
		md, err := scrapeOnce(t, s)
		if took := time.Since(start); took > cfg.Timeout+500*time.Millisecond {
			t.Fatalf("scrape %d took %s with a %s timeout", i, took, cfg.Timeout)
		}
		if err == nil {
			t.Fatalf("scrape %d succeeded against a stopped chronyd", i)
		}
		if v := value(t, md, "chrony.up"); v != 0 {
			t.Fatalf("scrape %d: chrony.up = %v", i, v)
		}
		if strings.Contains(err.Error(), "not reading its socket") {
			notReading++
		}
	}
	if notReading == 0 {
		t.Error("no scrape reached a full queue: the test did not wedge chronyd")
	}

	// The whole receiver, with a long timeout: Shutdown must not wait it out.
	rcfg := labConfig(lab.UnixEndpoint())
	rcfg.CollectionInterval, rcfg.Timeout, rcfg.InitialDelay = time.Minute, time.Minute, 0
	rcv, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), rcfg, consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the first scrape is now blocked on chronyd
	start := time.Now()
	if err := rcv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutdown took %s with chronyd wedged", took)
	}

	lab.SignalChronyd(syscall.SIGCONT)
	stopped = false
	cfg.Timeout = 2 * time.Second
	var md = func() float64 {
		for range 20 {
			md, err := scrapeOnce(t, s)
			if err == nil {
				return value(t, md, "chrony.up")
			}
			time.Sleep(100 * time.Millisecond)
		}
		return 0
	}()
	if md != 1 {
		t.Error("chrony.up not back to 1 after SIGCONT")
	}
}

// More sources than fit in a socket's queue at once (the review saw every
// unix-socket scrape fail above ~145): every one arrives with its statistics,
// over both transports, and the names match chronyc's list.
func TestIntegrationManySources(t *testing.T) {
	const extra = 520
	lab := chronylab.Start(t, chronylab.Options{ExtraSources: extra})
	// Synchronisation is beside the point; chronyd knowing every source is not.
	var sources []chronylab.Source
	deadline := time.Now().Add(30 * time.Second)
	for len(sources) != extra+1 {
		if time.Now().After(deadline) {
			t.Fatalf("chronyc lists %d sources, want %d", len(sources), extra+1)
		}
		time.Sleep(100 * time.Millisecond)
		sources, _ = lab.Sources()
	}
	for name, endpoint := range map[string]string{"udp": lab.UDPEndpoint(), "unix": lab.UnixEndpoint()} {
		t.Run(name, func(t *testing.T) {
			cfg := labConfig(endpoint)
			s := startScraper(t, cfg)
			for range 2 { // the second scrape has source names cached
				md, err := scrapeOnce(t, s)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(points(md, "ntp.source.offset")); n != extra+1 {
					t.Fatalf("%d sources exported, want %d", n, extra+1)
				}
				if n := len(points(md, "ntp.source.samples")); n != extra+1 {
					t.Errorf("%d sources with statistics, want %d", n, extra+1)
				}
			}
			md, _ := scrapeOnce(t, s)
			for _, src := range sources {
				if _, ok := find(md, "ntp.source.offset", "source.address", src.Name); !ok {
					t.Errorf("source %s missing", src.Name)
				}
			}
		})
	}
}

// A down chronyd is one WARN, not an error per scrape; a new reason is
// another; recovery is one INFO.
func TestScrapeFailuresLoggedOncePerChange(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	fake := aksNode()
	s := newScraper(createDefaultConfig(), set, func(*Config, receiver.Settings) (chronyReader, error) { return fake, nil })
	if err := s.start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	scrape := func() {
		if _, err := s.scrapeAndLog(context.Background()); err != nil {
			t.Fatalf("scrapeAndLog returned %v: the controller would log it every interval", err)
		}
	}
	scrape()
	fake.trackingErr = errorString("tracking: no tracking reply from chronyd at unix:///run/chrony/chronyd.sock after 3 tries")
	scrape()
	fake.trackingErr = errorString("tracking: no tracking reply from chronyd at unix:///run/chrony/chronyd.sock after 4 tries")
	scrape()
	fake.trackingErr = errorString("tracking: connect to chronyd: connection refused")
	scrape()
	scrape()
	fake.trackingErr = nil
	scrape()
	scrape()
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 2 {
		t.Errorf("%d WARN lines, want 2 (down, then a new reason): %v", n, logs.All())
	}
	if n := logs.FilterMessage("chronyd scrapes succeed again").Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d ERROR lines", n)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// observedScraper is a started scraper with a real chrony client whose log
// is recorded, debug lines included.
func observedScraper(t *testing.T, cfg *Config) (*chronyScraper, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	s := newScraper(cfg, set, newChronyReader)
	if err := s.start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s, logs
}

// scrapeUp is one scrape the way the collector makes it, with the
// scraper's timeout; it returns chrony.up.
func scrapeUp(t *testing.T, s *chronyScraper) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	md, err := s.scrapeAndLog(ctx)
	if err != nil {
		t.Fatalf("scrapeAndLog returned %v", err)
	}
	return value(t, md, "chrony.up")
}

// debugErrors are the errors of the failed scrapes that were not worth a WARN.
func debugErrors(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterLevelExact(zap.DebugLevel).FilterMessageSnippet("scrape failed").All() {
		if err, ok := e.ContextMap()["error"].(string); ok {
			out = append(out, err)
		}
	}
	return out
}

// A wedged chronyd is one cause for as long as it lasts: one WARN, though
// every scrape binds a reply socket with a new random name and the queue
// fills part way through (first no reply, then no room for the request),
// and one INFO once chronyd reads again.
func TestIntegrationWedgedChronydLoggedOnce(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	cfg := labConfig(lab.UnixEndpoint())
	cfg.Timeout = 300 * time.Millisecond
	s, logs := observedScraper(t, cfg)
	if up := scrapeUp(t, s); up != 1 {
		t.Fatalf("chrony.up = %v before the wedge", up)
	}

	lab.SignalChronyd(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			lab.SignalChronyd(syscall.SIGCONT)
		}
	}()
	// One tracking request per scrape: more scrapes than the 11 datagrams
	// the socket queues, so the reason's wording changes on the way.
	const wedgedScrapes = 16
	for i := range wedgedScrapes {
		if up := scrapeUp(t, s); up != 0 {
			t.Fatalf("wedged scrape %d: chrony.up = %v", i, up)
		}
	}
	lab.SignalChronyd(syscall.SIGCONT)
	stopped = false
	cfg.Timeout = 2 * time.Second
	recovered := false
	for range 20 {
		if recovered = scrapeUp(t, s) == 1; recovered {
			break
		}
	}
	if !recovered {
		t.Fatal("chrony.up not back to 1 after SIGCONT")
	}

	warns := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warns) != 1 {
		for _, w := range warns {
			t.Logf("WARN %v", w.ContextMap()["error"])
		}
		t.Fatalf("%d WARN lines over %d scrapes of a wedged chronyd, want 1", len(warns), wedgedScrapes)
	}
	// The one WARN keeps the detail of its occurrence, socket name included.
	if first, _ := warns[0].ContextMap()["error"].(string); !strings.Contains(first, "otelcol-chrony.") {
		t.Errorf("the WARN lost the detail: %q", first)
	}
	sawFull := false
	for _, e := range append(debugErrors(logs), warns[0].ContextMap()["error"].(string)) {
		sawFull = sawFull || strings.Contains(e, "not reading its socket")
	}
	if !sawFull {
		t.Error("no scrape found chronyd's queue full: the test did not wedge chronyd")
	}
	if n := logs.FilterMessage("chronyd scrapes succeed again").FilterLevelExact(zap.InfoLevel).Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d ERROR lines", n)
	}
}

// rogueChronyd holds a UDP port on loopback and answers every request with
// a header-only datagram that answers nothing: request n gets packet type
// types[n % len(types)], and the request's sequence number plus one, so a
// reply-typed one is a reply to no request in flight.
func rogueChronyd(t *testing.T, types []byte) string {
	t.Helper()
	return "udp://" + serveUDP(t, func(n int, req []byte) []byte {
		if len(req) < 12 {
			return nil
		}
		reply := make([]byte, 28)
		reply[0], reply[1] = 6, types[n%len(types)]
		copy(reply[4:6], req[4:6])
		binary.BigEndian.PutUint32(reply[16:20], binary.BigEndian.Uint32(req[8:12])+1)
		return reply
	})
}

// Whatever a stranger on chronyd's port sends, it is one cause: datagrams
// that answer nothing. Its packet types vary, and with them what the
// exchange makes of each (not a reply, or a reply to no request in flight);
// that is one WARN, not one per change of packet type.
func TestRoguePeerVaryingPacketTypeLoggedOnce(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Endpoint = rogueChronyd(t, []byte{1, 2, 7, 2, 0, 255, 2, 3})
	cfg.Timeout = 200 * time.Millisecond
	s, logs := observedScraper(t, cfg)
	const scrapes = 8
	for i := range scrapes {
		if up := scrapeUp(t, s); up != 0 {
			t.Fatalf("scrape %d: chrony.up = %v from a rogue peer", i, up)
		}
	}
	warns := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warns) != 1 {
		for _, w := range warns {
			t.Logf("WARN %v", w.ContextMap()["error"])
		}
		t.Fatalf("%d WARN lines over %d scrapes of a rogue peer, want 1", len(warns), scrapes)
	}
	all := append([]string{warns[0].ContextMap()["error"].(string)}, debugErrors(logs)...)
	if len(all) != scrapes {
		t.Fatalf("%d failed scrapes logged, want %d", len(all), scrapes)
	}
	var notReply, stale bool
	for _, e := range all {
		notReply = notReply || strings.Contains(e, "is not a reply")
		stale = stale || strings.Contains(e, "replies to earlier requests")
	}
	if !notReply || !stale {
		t.Errorf("the rogue's datagrams did not vary as meant (not a reply seen: %v, stale reply seen: %v): %q", notReply, stale, all)
	}
}
