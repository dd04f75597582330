package chronyreceiver

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
)

// These tests run the receiver against a real chronyd (Debian's chrony) that
// they start themselves; see chronylab.

// labConfig reads endpoint with every default and the per-source detail on,
// which the tests compare with chronyc.
func labConfig(endpoint string) *Config {
	cfg := createDefaultConfig()
	cfg.PerSourceMetrics = true
	cfg.Endpoint = endpoint
	cfg.Timeout = 5 * time.Second
	return cfg
}

var chronycLeap = map[string]string{
	"Normal":           "normal",
	"Insert second":    "insert_second",
	"Delete second":    "delete_second",
	"Not synchronised": "unsynchronised",
}

// Every tracking value the receiver exports equals what chronyc prints for
// the same sample, over both transports. The upstream is stopped first, so
// the sample cannot change between the two reads; only the values chronyd
// extrapolates with time (System time at the frequency offset, root
// dispersion at skew + |residual| + maxclockerror) may move, by at most their
// rate times the time between the reads.
func TestIntegrationTrackingMatchesChronyc(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	lab.StopServer()

	for name, endpoint := range map[string]string{"udp": lab.UDPEndpoint(), "unix": lab.UnixEndpoint()} {
		t.Run(name, func(t *testing.T) {
			s := startScraper(t, labConfig(endpoint))
			before := time.Now()
			md, err := scrapeOnce(t, s)
			if err != nil {
				t.Fatalf("scrape: %v", err)
			}
			tr, err := lab.TrackingReport()
			if err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(before).Seconds()
			if got := resourceAttr(md, "chrony.endpoint"); got != endpoint {
				t.Errorf("resource chrony.endpoint = %q, want %q", got, endpoint)
			}
			if v := value(t, md, "chrony.up"); v != 1 {
				t.Errorf("chrony.up = %v, want 1", v)
			}

			leap := chronycLeap[tr.Leap]
			freq, skew, resid := tr.Frequency, tr.Skew, tr.ResidualFrequency
			// chronyc prints seconds with 9 decimals and ppm with 3.
			const secRound, ppmRound = 0.5e-9 + 1e-15, 0.5e-3 + 1e-12
			driftRate := (math.Abs(freq) + skew + math.Abs(resid) + 1 + 0.01) * 1e-6
			drift := driftRate*elapsed + secRound

			checks := []struct {
				metric string
				attrs  []string
				want   float64
				tol    float64
			}{
				{"ntp.stratum", nil, tr.Stratum, 0},
				{"ntp.time.correction", []string{"leap.status", leap}, tr.SystemTime, drift},
				{"ntp.time.last_offset", []string{"leap.status", leap}, tr.LastOffset, secRound},
				{"ntp.time.rms_offset", []string{"leap.status", leap}, tr.RMSOffset, secRound},
				{"ntp.frequency.offset", []string{"leap.status", leap}, freq, ppmRound},
				{"ntp.frequency.residual", nil, resid, ppmRound},
				{"ntp.skew", nil, skew, ppmRound},
				{"ntp.time.root_delay", []string{"leap.status", leap}, tr.RootDelay, secRound},
				{"ntp.time.root_dispersion", nil, tr.RootDispersion, drift},
				{"ntp.update_interval", nil, tr.UpdateInterval, 0.05 + 1e-12},
				{"ntp.reference.info", []string{"reference.id", tr.RefID, "reference.name", tr.ReferenceName}, 1, 0},
				{"ntp.leap.status", []string{"leap.status", leap}, 1, 0},
				{"ntp.sync.state", []string{"sync.state", "synchronised"}, 1, 0},
			}
			for _, c := range checks {
				got := value(t, md, c.metric, c.attrs...)
				if math.Abs(got-c.want) > c.tol {
					t.Errorf("%s = %.12g, chronyc says %.12g (tolerance %.3g)", c.metric, got, c.want, c.tol)
				}
			}

			// The reference time: the data point is stamped when the reply
			// arrived, and the age is measured from that instant.
			age, _ := find(md, "ntp.time.reference_age")
			refTime := tr.RefTime
			gotRef := float64(age.ts.UnixNano())/1e9 - age.value
			if math.Abs(gotRef-refTime) > 1e-6 {
				t.Errorf("timestamp - reference_age = %.9f, chronyc's Ref time is %.9f", gotRef, refTime)
			}

			// The bound from chronyc's own numbers.
			corr, disp, delay, last := tr.SystemTime, tr.RootDispersion, tr.RootDelay, tr.LastOffset
			wantMax := math.Abs(corr) + disp + delay/2
			if got := value(t, md, "ntp.time.max_error"); math.Abs(got-wantMax) > 2*drift+secRound {
				t.Errorf("ntp.time.max_error = %.12g, chronyc's numbers give %.12g", got, wantMax)
			}
			wantClock := math.Abs(last) + disp + delay/2
			if got := value(t, md, "ntp.time.clock_error"); math.Abs(got-wantClock) > drift+2*secRound {
				t.Errorf("ntp.time.clock_error = %.12g, chronyc's numbers give %.12g", got, wantClock)
			}

			if err := s.shutdown(t.Context()); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			assertNoReplySockets(t, lab)
		})
	}
}

// Only chronyd's own socket may remain in its directory.
func assertNoReplySockets(t *testing.T, lab *chronylab.Lab) {
	t.Helper()
	entries, err := os.ReadDir(lab.RunDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(lab.SocketPath()) && filepath.Ext(e.Name()) == ".sock" {
			t.Errorf("reply socket left behind: %s", filepath.Join(lab.RunDir(), e.Name()))
		}
	}
}

// chronyd grows the root dispersion it reports with time since the last
// update; the bound relies on that instead of growing it a second time.
func TestIntegrationRootDispersionGrowsInReport(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	lab.StopServer()
	s := startScraper(t, labConfig(lab.UDPEndpoint()))
	first, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	second, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := find(first, "ntp.time.root_dispersion")
	d2, _ := find(second, "ntp.time.root_dispersion")
	skew := value(t, second, "ntp.skew")
	resid := value(t, second, "ntp.frequency.residual")
	wantRate := (skew + math.Abs(resid) + 1) * 1e-6 // chrony's default maxclockerror is 1 ppm
	gotRate := (d2.value - d1.value) / d2.ts.Sub(d1.ts).Seconds()
	if math.Abs(gotRate-wantRate) > 0.05*wantRate {
		t.Errorf("root dispersion grew at %.4g s/s, want skew+|resid|+maxclockerror = %.4g s/s", gotRate, wantRate)
	}
	m1 := value(t, first, "ntp.time.max_error")
	m2 := value(t, second, "ntp.time.max_error")
	if m2 <= m1 {
		t.Errorf("max_error did not grow without updates: %.9g then %.9g", m1, m2)
	}
}

// A source 5 ms off: chronyd (-x, so it never slews) keeps the system clock
// 5 ms from true time. Its last offset is measured against the corrected
// clock and says ~0, so the sidecar's formula misses the error; chrony's
// documented bound does not.
func TestIntegrationOffsetSourceBound(t *testing.T) {
	const offset = 0.005
	lab := chronylab.Start(t, chronylab.Options{SourceOffset: offset})
	lab.WaitSynced()
	s := startScraper(t, labConfig(lab.UnixEndpoint()))
	md, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	maxErr := value(t, md, "ntp.time.max_error")
	clockErr := value(t, md, "ntp.time.clock_error")
	corr := value(t, md, "ntp.time.correction", "leap.status", "normal")
	if math.Abs(math.Abs(corr)-offset) > 0.0002 {
		t.Errorf("ntp.time.correction = %.9f, want about ±%.3f", corr, offset)
	}
	if maxErr < offset {
		t.Errorf("ntp.time.max_error = %.9f, does not cover the %.3f s error", maxErr, offset)
	}
	if clockErr >= offset {
		t.Errorf("ntp.time.clock_error = %.9f: expected the sidecar's formula to miss the %.3f s error here", clockErr, offset)
	}
	t.Logf("clock 5 ms off: max_error %.6f s, sidecar clock_error %.6f s", maxErr, clockErr)
}

// An AKS node syncs from `refclock PHC /dev/ptp0`, which chronyc shows
// as PHC0; the raw address field holds the refid as a dotted quad.
func TestIntegrationRefclockNamedPHC0(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{Refclock: true, NoUpstream: true})
	lab.WaitSynced()
	s := startScraper(t, labConfig(lab.UnixEndpoint()))
	md, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if v := value(t, md, "ntp.source.mode", "source.address", "PHC0", "source.name", "PHC0", "source.mode", "reference_clock"); v != 1 {
		t.Errorf("PHC0 mode reference_clock = %v, want 1", v)
	}
	if v := value(t, md, "ntp.source.state", "source.name", "PHC0", "source.state", "sync"); v != 1 {
		t.Errorf("PHC0 state sync = %v, want 1", v)
	}
	if v := value(t, md, "ntp.source.samples", "source.name", "PHC0"); v < 1 {
		t.Errorf("PHC0 sourcestats samples = %v", v)
	}
	if v := value(t, md, "ntp.reference.info", "reference.name", "PHC0"); v != 1 {
		t.Errorf("reference PHC0 missing")
	}
	sources, err := lab.Sources()
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Name != "PHC0" {
		t.Fatalf("chronyc sources = %+v, want one PHC0 row", sources)
	}
	if got, want := value(t, md, "ntp.source.reachability", "source.name", "PHC0"), sources[0].Reach; int64(got) != want {
		t.Errorf("reachability %o, chronyc says %o", int64(got), want)
	}
}

// Per-source values equal `chronyc sources` and `sourcestats` for the same
// sample (upstream stopped, so no new samples arrive between the reads).
func TestIntegrationSourcesMatchChronyc(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	lab.StopServer()
	s := startScraper(t, labConfig(lab.UDPEndpoint()))
	before := time.Now()
	md, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	src, err := lab.Sources()
	if err != nil {
		t.Fatal(err)
	}
	stats, err := lab.SourceStatistics()
	if err != nil {
		t.Fatal(err)
	}
	if len(src) != 1 || len(stats) != 1 {
		t.Fatalf("want one source, chronyc says %v / %v", src, stats)
	}
	elapsed := time.Since(before).Seconds()
	row, st := src[0], stats[0]
	name := []string{"source.address", row.Name, "source.name", row.Name}
	// chronyd extrapolates the estimated offset to each request's time at
	// the residual frequency, within the skew.
	offsetDrift := (math.Abs(st.ResidualFrequency)+st.Skew+0.01)*1e-6*elapsed + 0.5e-9 + 1e-15
	const secRound = 0.5e-9 + 1e-15
	checks := []struct {
		metric string
		want   float64
		tol    float64
	}{
		{"ntp.source.stratum", row.Stratum, 0},
		{"ntp.source.poll_interval", math.Ldexp(1, row.Poll), 0},
		{"ntp.source.reachability", float64(row.Reach), 0},
		{"ntp.source.last_sample_age", row.LastRx, 1},
		{"ntp.source.offset", row.Offset, secRound},
		{"ntp.source.measured_offset", row.MeasuredOffset, secRound},
		{"ntp.source.offset_error", row.Error, secRound},
		{"ntp.source.samples", st.Samples, 0},
		{"ntp.source.runs", st.Runs, 0},
		{"ntp.source.span", st.Span, 0},
		{"ntp.source.frequency.residual", st.ResidualFrequency, 0.5e-3 + 1e-12},
		{"ntp.source.skew", st.Skew, 0.5e-3 + 1e-12},
		{"ntp.source.estimated_offset", st.Offset, offsetDrift},
		{"ntp.source.std_dev", st.Std, secRound},
	}
	for _, c := range checks {
		got := value(t, md, c.metric, name...)
		if math.Abs(got-c.want) > c.tol {
			t.Errorf("%s = %.12g, chronyc says %.12g", c.metric, got, c.want)
		}
	}
	states := map[string]string{"*": "sync", "?": "unreach", "x": "falseticker", "~": "jittery", "+": "candidate", "-": "outlier"}
	for _, state := range []string{"sync", "unreach", "falseticker", "jittery", "candidate", "outlier"} {
		want := 0.0
		if states[row.State] == state {
			want = 1
		}
		if got := value(t, md, "ntp.source.state", append(name, "source.state", state)...); got != want {
			t.Errorf("ntp.source.state{%s} = %v, want %v (chronyc state %q)", state, got, want, row.State)
		}
	}
}

// The upstream stops answering: within 8 update intervals (and the poll it
// takes to notice) the clock is reported free-running, and the bound keeps
// growing instead of freezing at its last good value.
func TestIntegrationSourceStoppedTurnsFreeRunning(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	s := startScraper(t, labConfig(lab.UDPEndpoint()))
	md, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	interval := value(t, md, "ntp.update_interval")
	if v := value(t, md, "ntp.sync.state", "sync.state", "synchronised"); v != 1 {
		t.Fatalf("not synchronised before the source stopped:\n%s", dump(md))
	}
	lab.StopServer()
	stopped := time.Now()
	limit := time.Duration((8*interval + 2) * float64(time.Second))
	for {
		md, err = scrapeOnce(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if value(t, md, "ntp.sync.state", "sync.state", "free_running") == 1 {
			break
		}
		if time.Since(stopped) > limit {
			t.Fatalf("still not free-running %s after the source stopped (update interval %.2fs):\n%s", time.Since(stopped), interval, dump(md))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("free-running %.2fs after the source stopped (update interval %.2fs)", time.Since(stopped).Seconds(), interval)
	if v := value(t, md, "ntp.sync.state", "sync.state", "synchronised"); v != 0 {
		t.Errorf("synchronised = %v while free-running", v)
	}
}

// chronyd killed: chrony.up 0 and nothing else, no stale values; chronyd
// restarted: values return, without restarting the receiver.
func TestIntegrationChronydRestart(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	lab.WaitSynced()
	for name, endpoint := range map[string]string{"unix": lab.UnixEndpoint(), "udp": lab.UDPEndpoint()} {
		t.Run(name, func(t *testing.T) {
			s := startScraper(t, labConfig(endpoint))
			md, err := scrapeOnce(t, s)
			if err != nil || value(t, md, "chrony.up") != 1 {
				t.Fatalf("first scrape: %v\n%s", err, dump(md))
			}
			lab.KillChronyd()
			md, err = scrapeOnce(t, s)
			if err == nil {
				t.Error("scrape of a dead chronyd returned no error")
			}
			if v := value(t, md, "chrony.up"); v != 0 {
				t.Errorf("chrony.up = %v with chronyd killed", v)
			}
			if names := metricNames(md); !slices.Equal(names, sentWhileDown) {
				t.Errorf("with chronyd down only %v may be sent, got %v", sentWhileDown, names)
			}
			lab.StartChronyd()
			lab.WaitSynced()
			md, err = scrapeOnce(t, s)
			if err != nil {
				t.Fatalf("scrape after restart: %v", err)
			}
			if v := value(t, md, "chrony.up"); v != 1 {
				t.Errorf("chrony.up = %v after restart", v)
			}
			value(t, md, "ntp.time.max_error")
			if err := s.shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			assertNoReplySockets(t, lab)
		})
	}
}

// serverstats over the unix socket: our own requests are command packets
// chronyd served, so the count is positive and no more than chronyc sees after.
func TestIntegrationServerStats(t *testing.T) {
	lab := chronylab.Start(t, chronylab.Options{})
	cfg := labConfig(lab.UnixEndpoint())
	cfg.Metrics.ChronyServerCommandPackets.Enabled = true
	cfg.Metrics.ChronyServerNtpPackets.Enabled = true
	s := startScraper(t, cfg)
	md, err := scrapeOnce(t, s)
	if err != nil {
		t.Fatal(err)
	}
	got := value(t, md, "chrony.server.command.packets", "packet.outcome", "served")
	stats, err := lab.ServerStatistics()
	if err != nil {
		t.Fatal(err)
	}
	if got < 1 || got > stats.CommandReceived {
		t.Errorf("command packets served = %v, chronyc says %v afterwards", got, stats.CommandReceived)
	}
	if v := value(t, md, "chrony.server.ntp.packets", "packet.outcome", "dropped"); v != stats.NTPDropped {
		t.Errorf("ntp packets dropped = %v, chronyc says %v", v, stats.NTPDropped)
	}
}
