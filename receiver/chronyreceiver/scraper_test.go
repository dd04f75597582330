package chronyreceiver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fakeReader is an exact stand-in for chronyd: it returns what it is given
// and records what it was asked.
type fakeReader struct {
	tracking    chronyclient.Tracking
	trackingErr error
	sources     []chronyclient.Source
	sourcesErr  error
	server      chronyclient.ServerStats
	serverErr   error

	sourcesCalls, serverCalls int
	withStats                 []bool
	closed                    bool
}

func (f *fakeReader) Tracking(context.Context) (chronyclient.Tracking, error) {
	return f.tracking, f.trackingErr
}

func (f *fakeReader) Sources(_ context.Context, withStats bool) ([]chronyclient.Source, error) {
	f.sourcesCalls++
	f.withStats = append(f.withStats, withStats)
	return f.sources, f.sourcesErr
}

func (f *fakeReader) ServerStats(context.Context) (chronyclient.ServerStats, error) {
	f.serverCalls++
	return f.server, f.serverErr
}

func (f *fakeReader) Endpoint() string { return "unix:///run/chrony/chronyd.sock" }
func (f *fakeReader) Close() error     { f.closed = true; return nil }

var scrapeTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testBuild is the build information a collector built by ocb from
// builder-config.yaml passes to the factory.
var testBuild = component.BuildInfo{Command: "otelcol-chrony", Description: "OpenTelemetry Collector that watches chronyd", Version: "0.1.0"}

// aksNode is what an AKS node's chronyd says: synced to the Hyper-V PTP clock
// PHC0, with an NTP server configured as a fallback.
func aksNode() *fakeReader {
	return &fakeReader{
		tracking: chronyclient.Tracking{
			RefID: 0x50484330, ReferenceName: "PHC0", Stratum: 1, LeapStatus: chronyclient.LeapNormal,
			RefTime: scrapeTime.Add(-3 * time.Second), CurrentCorrection: -0.000001, LastOffset: 0.0000004,
			RMSOffset: 0.000002, FrequencyPPM: -12.5, ResidualFreqPPM: 0.001, SkewPPM: 0.02,
			RootDelay: 0.000000001, RootDispersion: 0.000012, LastUpdateInterval: 16, ReceivedAt: scrapeTime,
		},
		sources: []chronyclient.Source{
			{Address: "PHC0", Name: "PHC0", Mode: chronyclient.ModeRefclock, State: 0, Stratum: 0, Poll: 4,
				Reachability: 0o377, SinceSample: 3, HasSample: true, Offset: 0.0000001, MeasuredOffset: 0.0000002, OffsetError: 0.000001,
				Stats: &chronyclient.SourceStats{Samples: 12, Runs: 7, SpanSeconds: 176, StdDev: 0.0000003, ResidualFreqPPM: 0.001, SkewPPM: 0.02, Offset: 0.00000001, OffsetError: 0.0000005}},
			{Address: "168.63.129.16", Name: "time.windows.com", Mode: chronyclient.ModeClient, State: 4, Stratum: 2, Poll: 10,
				Reachability: 0o17, HasSample: false, Offset: 0.0004, MeasuredOffset: 0.0004, OffsetError: 0.02},
		},
	}
}

func newFakeScraper(t *testing.T, cfg *Config, fake *fakeReader) *chronyScraper {
	t.Helper()
	set := receivertest.NewNopSettings(metadata.Type)
	set.BuildInfo = testBuild
	s := newScraper(cfg, set, func(*Config, receiver.Settings) (chronyReader, error) {
		return fake, nil
	})
	s.now = func() time.Time { return scrapeTime }
	if err := s.start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// The whole output of one scrape of an AKS-like node, against a golden file.
func TestScrapeGolden(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.PerSourceMetrics = true
	s := newFakeScraper(t, cfg, aksNode())
	md, err := s.scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "scrape", "aks_node.yaml")
	if *update {
		// Start times are the metrics builder's wall clock: left out so the
		// golden file changes only when the output does. The data point times
		// come from the fake chronyd and the fixed clock, so they are kept
		// as they are rather than normalised. WriteMetrics sorts what it is
		// given, hence the copy. It fails the test on purpose: a run that
		// rewrote the golden file has checked nothing.
		written := pmetric.NewMetrics()
		md.CopyTo(written)
		clearStartTimes(written)
		if err := golden.WriteMetrics(t, path, written, golden.SkipMetricTimestampNormalization()); err != nil {
			t.Fatal(err)
		}
	}
	want, err := golden.ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	// Order carries no meaning to a consumer, and the golden file is sorted.
	if err := pmetrictest.CompareMetrics(want, md,
		pmetrictest.IgnoreStartTimestamp(),
		pmetrictest.IgnoreMetricsOrder(),
		pmetrictest.IgnoreMetricDataPointsOrder(),
	); err != nil {
		t.Errorf("scrape differs from %s (run with -update to accept):\n%s", path, eachOnALine(err))
	}

	// The facts behind the golden file, stated on their own.
	if v := value(t, md, "ntp.time.max_error"); abs(v-(0.000001+0.000012+0.0000000005)) > 1e-15 {
		t.Errorf("max_error %.12g", v)
	}
	if v := value(t, md, "ntp.source.state", "source.name", "time.windows.com", "source.state", "candidate"); v != 1 {
		t.Errorf("time.windows.com candidate = %v", v)
	}
	if _, ok := find(md, "ntp.source.last_sample_age", "source.name", "time.windows.com"); ok {
		t.Error("last_sample_age sent for a source with no sample")
	}
	if v := value(t, md, "ntp.source.poll_interval", "source.name", "time.windows.com"); v != 1024 {
		t.Errorf("poll interval %v, want 2^10", v)
	}
	if n := len(points(md, "ntp.source.state")); n != 12 {
		t.Errorf("%d source state points, want 6 states × 2 sources", n)
	}
	if _, ok := find(md, "ntp.source.samples", "source.name", "time.windows.com"); ok {
		t.Error("sourcestats sent for a source that had none")
	}
}

// eachOnALine prints each difference CompareMetrics found on its own line;
// it joins them with "; ", which is hard to read past two.
func eachOnALine(err error) string {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err.Error()
	}
	var lines []string
	for _, e := range joined.Unwrap() {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func clearStartTimes(md pmetric.Metrics) {
	eachNumberPoint(md, func(_ pmetric.Metric, dp pmetric.NumberDataPoint) { dp.SetStartTimestamp(0) })
}

// The leap status labels the tracking values and picks the one
// ntp.leap.status series that is 1. A value chrony does not send (a corrupt
// reply or a newer protocol) counts as unsynchronised: a clock that cannot say
// it is synchronised must not be reported as normal.
func TestLeapStatusOfTracking(t *testing.T) {
	tests := []struct {
		leap uint16
		want string
	}{
		{chronyclient.LeapNormal, "normal"},
		{chronyclient.LeapInsertSecond, "insert_second"},
		{chronyclient.LeapDeleteSecond, "delete_second"},
		{chronyclient.LeapUnsynchronised, "unsynchronised"},
		{4, "unsynchronised"},
		{5, "unsynchronised"},
		{0xffff, "unsynchronised"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.leap), func(t *testing.T) {
			fake := aksNode()
			fake.tracking.LeapStatus = tt.leap
			md, err := newFakeScraper(t, createDefaultConfig(), fake).scrape(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"ntp.frequency.offset", "ntp.time.correction", "ntp.time.last_offset", "ntp.time.rms_offset", "ntp.time.root_delay"} {
				ps := points(md, name)
				if len(ps) != 1 || ps[0].attrs["leap.status"] != tt.want {
					t.Errorf("%s points %v, want one labelled leap.status=%s", name, ps, tt.want)
				}
			}
			var set []string
			for _, p := range points(md, "ntp.leap.status") {
				if p.value == 1 {
					set = append(set, p.attrs["leap.status"])
				}
			}
			if len(set) != 1 || set[0] != tt.want {
				t.Errorf("ntp.leap.status is 1 for %v, want for %s alone", set, tt.want)
			}
		})
	}
}

// chronyd unreachable: chrony.up 0 and the collector's build, no tracking
// values, and the error.
func TestScrapeChronyDown(t *testing.T) {
	fake := aksNode()
	cfg := createDefaultConfig()
	cfg.PerSourceMetrics = true
	s := newFakeScraper(t, cfg, fake)
	if _, err := s.scrape(context.Background()); err != nil {
		t.Fatal(err)
	}
	fake.trackingErr = errors.New("tracking: dial chronyd: connection refused")
	md, err := s.scrape(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want the tracking error, got %v", err)
	}
	if names := metricNames(md); !slices.Equal(names, sentWhileDown) {
		t.Errorf("with chronyd down sent %v, want only %v", names, sentWhileDown)
	}
	if v := value(t, md, "chrony.up"); v != 0 {
		t.Errorf("chrony.up = %v", v)
	}
	if fake.sourcesCalls != 1 {
		t.Errorf("asked for sources %d times; not again while chronyd is down", fake.sourcesCalls)
	}
}

// A report is asked for only when one of its metrics is enabled.
func TestScrapeAsksOnlyForEnabledReports(t *testing.T) {
	tests := []struct {
		name        string
		modify      func(*Config)
		sources     int
		withStats   bool
		serverstats int
	}{
		// Per-source detail is opt-in: by default only tracking is asked for.
		{"defaults", func(*Config) {}, 0, false, 0},
		{"per_source_metrics", func(c *Config) { c.PerSourceMetrics = true }, 1, true, 0},
		{"one source metric", func(c *Config) { c.Metrics.NtpSourceOffset.Enabled = true }, 1, false, 0},
		{"one sourcestats metric", func(c *Config) { c.Metrics.NtpSourceSkew.Enabled = true }, 1, true, 0},
		{"serverstats", func(c *Config) { c.Metrics.ChronyServerLogDrops.Enabled = true }, 0, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tt.modify(cfg)
			fake := aksNode()
			s := newFakeScraper(t, cfg, fake)
			if _, err := s.scrape(context.Background()); err != nil {
				t.Fatal(err)
			}
			if fake.sourcesCalls != tt.sources || fake.serverCalls != tt.serverstats {
				t.Errorf("sources asked %d times, serverstats %d; want %d and %d", fake.sourcesCalls, fake.serverCalls, tt.sources, tt.serverstats)
			}
			if tt.sources > 0 && fake.withStats[0] != tt.withStats {
				t.Errorf("sourcestats asked: %v, want %v", fake.withStats[0], tt.withStats)
			}
		})
	}
}

// Sources that failed half way: tracking and the sources read so far are
// sent, with the error; serverstats refused over UDP likewise.
func TestScrapePartialFailures(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.PerSourceMetrics = true
	cfg.Metrics.ChronyServerNtpPackets.Enabled = true
	fake := aksNode()
	fake.sources = fake.sources[:1]
	fake.sourcesErr = errors.New("sourcedata 1 of 2: i/o timeout")
	fake.serverErr = errors.New("serverstats: chronyd refused the serverstats request with status UNAUTH")
	s := newFakeScraper(t, cfg, fake)
	md, err := s.scrape(context.Background())
	if err == nil {
		t.Fatal("want the sources and serverstats errors")
	}
	for _, want := range []string{"sourcedata 1 of 2", "UNAUTH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if v := value(t, md, "chrony.up"); v != 1 {
		t.Errorf("chrony.up = %v although tracking was read", v)
	}
	value(t, md, "ntp.source.offset", "source.name", "PHC0")
	if _, ok := find(md, "chrony.server.ntp.packets", "packet.outcome", "served"); ok {
		t.Error("serverstats sent although refused")
	}
}

func TestShutdownClosesReader(t *testing.T) {
	fake := aksNode()
	s := newFakeScraper(t, createDefaultConfig(), fake)
	if err := s.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !fake.closed {
		t.Error("reader not closed at shutdown")
	}
}

// Shutdown without start (the collector may do that when another component
// fails to start) must not fail.
func TestShutdownWithoutStart(t *testing.T) {
	s := newScraper(createDefaultConfig(), receivertest.NewNopSettings(metadata.Type), newChronyReader)
	if err := s.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// statusHost records the component status the receiver reports.
type statusHost struct {
	component.Host
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) { h.events = append(h.events, ev) }

// The receiver's status follows whether chronyd can be read, reported once
// per change: the health check turns a lasting recoverable error into an
// unready pod. A failed sources read alone keeps the status OK.
func TestStatusFollowsChronyd(t *testing.T) {
	fake := aksNode()
	cfg := createDefaultConfig()
	cfg.PerSourceMetrics = true
	host := &statusHost{Host: componenttest.NewNopHost()}
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), func(*Config, receiver.Settings) (chronyReader, error) { return fake, nil })
	if err := s.start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	scrape := func() {
		if _, err := s.scrapeAndLog(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	record := func() {
		for _, ev := range host.events {
			e := ev.Status().String()
			if ev.Err() != nil {
				e += ": " + ev.Err().Error()
			}
			got = append(got, e)
		}
		host.events = nil
	}
	fake.trackingErr = errors.New("tracking: permission denied")
	scrape()
	scrape()
	record()
	fake.trackingErr = nil
	fake.sourcesErr = errors.New("sources: timeout")
	scrape()
	scrape()
	record()
	fake.trackingErr = errors.New("tracking: timeout")
	scrape()
	record()
	want := []string{"StatusRecoverableError: tracking: permission denied", "StatusOK", "StatusRecoverableError: tracking: timeout"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("status events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The collector names its build in every scrape, from the build information
// it hands the factory (ocb sets it from the builder config's dist section),
// also while chronyd cannot be read: here nothing listens at the endpoint.
func TestCollectorInfoFromBuildInfo(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Endpoint = "udp://127.0.0.1:9"
	cfg.CollectionInterval = 10 * time.Millisecond
	cfg.InitialDelay = 0
	cfg.Timeout = 50 * time.Millisecond
	set := receivertest.NewNopSettings(metadata.Type)
	set.BuildInfo = testBuild
	sink := new(consumertest.MetricsSink)
	rcv, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rcv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.AllMetrics()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no scrape in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	md := sink.AllMetrics()[0]
	if v := value(t, md, "chrony.up"); v != 0 {
		t.Errorf("chrony.up = %v with nothing at the endpoint", v)
	}
	if v := value(t, md, "chrony.collector.info", "collector.command", "otelcol-chrony", "collector.version", "0.1.0"); v != 1 {
		t.Errorf("chrony.collector.info = %v, want 1", v)
	}
	if n := len(points(md, "chrony.collector.info")); n != 1 {
		t.Errorf("%d chrony.collector.info points, want 1:\n%s", n, dump(md))
	}
}
