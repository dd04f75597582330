package chronyreceiver

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
)

// seriesOf lists "name{attrs}" of md's points, split by whether they carry
// the NoRecordedValue flag.
func seriesOf(md pmetric.Metrics) (live, stale []string) {
	eachNumberPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		key := m.Name() + string(appendAttrs(nil, dp.Attributes()))
		if dp.Flags().NoRecordedValue() {
			stale = append(stale, key)
		} else {
			live = append(live, key)
		}
	})
	sort.Strings(live)
	sort.Strings(stale)
	return live, stale
}

func scrapeLogged(t *testing.T, s *chronyScraper) pmetric.Metrics {
	t.Helper()
	md, err := s.scrapeAndLog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// Every series of a good scrape that the next scrape lacks gets exactly one
// stale marker: all of tracking and sources when chronyd goes away, the old
// leap.status series when the leap status changes, a source that is gone.
func TestStaleMarkers(t *testing.T) {
	fake := aksNode()
	cfg := createDefaultConfig()
	cfg.PerSourceMetrics = true
	s := newFakeScraper(t, cfg, fake)
	first := scrapeLogged(t, s)
	before, stale := seriesOf(first)
	if len(stale) != 0 {
		t.Fatalf("first scrape has stale markers: %v", stale)
	}

	fake.trackingErr = errors.New("tracking: no tracking reply")
	down := scrapeLogged(t, s)
	live, stale := seriesOf(down)
	var liveNames []string
	eachNumberPoint(down, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if !dp.Flags().NoRecordedValue() {
			liveNames = append(liveNames, m.Name())
		}
	})
	sort.Strings(liveNames)
	if !equal(liveNames, sentWhileDown) {
		t.Errorf("while down, live series %v, want %v alone", live, sentWhileDown)
	}
	var want []string
	for _, k := range before {
		if !slices.Contains(live, k) {
			want = append(want, k)
		}
	}
	if !equal(stale, want) {
		t.Errorf("stale markers:\n%v\nwant every series but %v:\n%v", stale, live, want)
	}
	if _, stale := seriesOf(scrapeLogged(t, s)); len(stale) != 0 {
		t.Errorf("second scrape while down marks again: %v", stale)
	}

	fake.trackingErr = nil
	if _, stale := seriesOf(scrapeLogged(t, s)); len(stale) != 0 {
		t.Errorf("recovery marks %v", stale)
	}
	fake.tracking.LeapStatus = chronyclient.LeapInsertSecond
	fake.sources = fake.sources[:1]
	_, stale = seriesOf(scrapeLogged(t, s))
	leapSeries := 0
	sourceSeries := 0
	for _, k := range stale {
		switch {
		case strings.Contains(k, "leap.status=normal"):
			leapSeries++
		case strings.Contains(k, "source.name=time.windows.com"):
			sourceSeries++
		default:
			t.Errorf("unexpected stale marker %s", k)
		}
	}
	// correction, last offset, rms offset, root delay, frequency offset.
	if leapSeries != 5 {
		t.Errorf("%d stale leap.status=normal series, want 5: %v", leapSeries, stale)
	}
	if sourceSeries == 0 {
		t.Errorf("the vanished source was not marked stale: %v", stale)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
