package chronyreceiver

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
)

// point is one data point, flattened for assertions.
type point struct {
	value float64
	ts    time.Time
	attrs map[string]string
}

// eachNumberPoint calls fn for every gauge and sum data point.
func eachNumberPoint(md pmetric.Metrics, fn func(m pmetric.Metric, dp pmetric.NumberDataPoint)) {
	eachPoint(md, func(_ pmetric.ResourceMetrics, _ pmetric.ScopeMetrics, m pmetric.Metric, dp pmetric.NumberDataPoint) {
		fn(m, dp)
	})
}

// points returns every data point of the metric name.
func points(md pmetric.Metrics, name string) []point {
	var out []point
	eachNumberPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if m.Name() != name {
			return
		}
		p := point{ts: dp.Timestamp().AsTime(), attrs: map[string]string{}}
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			p.value = float64(dp.IntValue())
		} else {
			p.value = dp.DoubleValue()
		}
		dp.Attributes().Range(func(k string, v pcommon.Value) bool {
			p.attrs[k] = v.AsString()
			return true
		})
		out = append(out, p)
	})
	return out
}

// value returns the single point of name whose attributes include want.
func value(t *testing.T, md pmetric.Metrics, name string, want ...string) float64 {
	t.Helper()
	p, ok := find(md, name, want...)
	if !ok {
		t.Fatalf("no data point %s%v; have:\n%s", name, want, dump(md))
	}
	return p.value
}

func find(md pmetric.Metrics, name string, want ...string) (point, bool) {
	var found []point
	for _, p := range points(md, name) {
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if p.attrs[want[i]] != want[i+1] {
				match = false
			}
		}
		if match {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return point{}, false
	}
	return found[0], true
}

// sentWhileDown is all a scrape sends while chronyd cannot be read: that it
// could not, and which collector build tried.
var sentWhileDown = []string{"chrony.collector.info", "chrony.up"}

func metricNames(md pmetric.Metrics) []string {
	seen := map[string]bool{}
	eachNumberPoint(md, func(m pmetric.Metric, _ pmetric.NumberDataPoint) { seen[m.Name()] = true })
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func dump(md pmetric.Metrics) string {
	var b strings.Builder
	for _, n := range metricNames(md) {
		for _, p := range points(md, n) {
			fmt.Fprintf(&b, "  %s%v = %v\n", n, p.attrs, p.value)
		}
	}
	return b.String()
}

func resourceAttr(md pmetric.Metrics, key string) string {
	if md.ResourceMetrics().Len() == 0 {
		return ""
	}
	v, ok := md.ResourceMetrics().At(0).Resource().Attributes().Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

// startScraper makes a started scraper for cfg with a real chrony client.
func startScraper(t *testing.T, cfg *Config) *chronyScraper {
	t.Helper()
	s := newScraper(cfg, receivertest.NewNopSettings(metadata.Type), newChronyReader)
	if err := s.start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

func scrapeOnce(t *testing.T, s *chronyScraper) (pmetric.Metrics, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	return s.scrape(ctx)
}

// serveUDP answers each datagram sent to a loopback port with what reply
// makes of it (nothing for nil) until the test ends, and returns the
// address. n counts the datagrams received.
func serveUDP(t *testing.T, reply func(n int, datagram []byte) []byte) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for n := 0; ; n++ {
			size, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if out := reply(n, buf[:size]); out != nil {
				_, _ = conn.WriteToUDP(out, from)
			}
		}
	}()
	return conn.LocalAddr().String()
}
