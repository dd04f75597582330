package chronyreceiver

import (
	"context"
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
