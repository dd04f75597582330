package prometheustextexporter

import (
	"bytes"
	"context"
	"flag"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// batch builds the kinds of data the exporter meets: gauges with double and
// int values, a monotonic and a non-monotonic cumulative sum, a delta sum and
// a histogram (both refused), attribute values that need escaping, a unit
// that becomes a suffix and one in braces that does not.
func batch(node string, offset float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("k8s.node.name", node)
	rm.Resource().Attributes().PutStr("host.name", "not-a-label")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()

	g := ms.AppendEmpty()
	g.SetName("ntp.time.last_offset")
	g.SetUnit("s")
	g.SetDescription("Last offset.\nSecond line with a \\ backslash.")
	p := g.SetEmptyGauge().DataPoints().AppendEmpty()
	p.SetDoubleValue(offset)

	st := ms.AppendEmpty()
	st.SetName("ntp.source.state")
	st.SetUnit("1")
	st.SetDescription("One-hot state.")
	stPoints := st.SetEmptyGauge().DataPoints()
	for _, s := range []struct {
		addr, state string
		v           int64
	}{{"PHC0", "selected", 1}, {"10.0.0.1", "selected", 0}, {"10.0.0.1", "candidate", 1}} {
		dp := stPoints.AppendEmpty()
		dp.Attributes().PutStr("source.address", s.addr)
		dp.Attributes().PutStr("source.state", s.state)
		dp.SetIntValue(s.v)
	}

	ref := ms.AppendEmpty()
	ref.SetName("ntp.reference.info")
	ref.SetDescription("Reference.")
	rp := ref.SetEmptyGauge().DataPoints().AppendEmpty()
	rp.Attributes().PutStr("reference.name", "quote \" and \\ and\nnewline")
	rp.Attributes().PutStr("k8s.node.name", "attribute-wins")
	rp.SetIntValue(1)

	skew := ms.AppendEmpty()
	skew.SetName("ntp.skew")
	skew.SetUnit("{ppm}")
	skew.SetDescription("Skew.")
	skew.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(math.Inf(1))

	c := ms.AppendEmpty()
	c.SetName("chrony.server.ntp.packets")
	c.SetUnit("{packet}")
	c.SetDescription("Packets.")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cp := sum.DataPoints().AppendEmpty()
	cp.SetIntValue(1234567)
	cp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(1, 0)))

	u := ms.AppendEmpty()
	u.SetName("ntp.correction")
	u.SetUnit("ms")
	u.SetDescription("Non-monotonic.")
	us := u.SetEmptySum()
	us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	us.DataPoints().AppendEmpty().SetDoubleValue(-0.000125)

	d := ms.AppendEmpty()
	d.SetName("delta.sum")
	ds := d.SetEmptySum()
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ds.DataPoints().AppendEmpty().SetIntValue(1)

	h := ms.AppendEmpty()
	h.SetName("some.histogram")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(1)
	return md
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func startExporter(t *testing.T, cfg *Config) (*promExporter, *clock, *observer.ObservedLogs, string) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	e := newExporter(cfg, zap.New(core))
	c := &clock{t: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}
	e.now = c.now
	if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e, c, logs, "http://" + e.server.Addr() + "/metrics"
}

func get(t *testing.T, url string, gz bool) (string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	// An explicit header keeps Go's transport from decompressing for us.
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp
}

// The page for a known batch is a golden file; the e2e test holds the same
// rendering against the contrib Prometheus exporter on the receiver's real
// data (e2e/prometheustext_test.go).
func TestExposition(t *testing.T) {
	e, _, logs, url := startExporter(t, &Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute, ResourceLabels: []string{"k8s.node.name", "k8s.cluster.name"}})
	if err := e.ConsumeMetrics(context.Background(), batch("node-a", 0.5)); err != nil {
		t.Fatal(err)
	}
	plain, resp := get(t, url, false)
	if ct := resp.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type %q", ct)
	}
	golden := filepath.Join("testdata", "exposition.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(plain), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if plain != string(want) {
		t.Errorf("exposition differs from %s (go test -update to accept):\n%s", golden, plain)
	}
	// A client that asks for gzip gets the page as it is (see
	// promExporter.page).
	if zipped, resp := get(t, url, true); resp.Header.Get("Content-Encoding") != "" || zipped != plain {
		t.Errorf("gzip asked: encoding %q, same page %v", resp.Header.Get("Content-Encoding"), zipped == plain)
	}
	// Each refused metric is said once, however many batches carry it.
	if err := e.ConsumeMetrics(context.Background(), batch("node-a", 0.25)); err != nil {
		t.Fatal(err)
	}
	var warned []string
	for _, entry := range logs.All() {
		warned = append(warned, entry.ContextMap()["metric"].(string))
	}
	if strings.Join(warned, ",") != "delta.sum,some.histogram" {
		t.Errorf("warnings for %v, want delta.sum and some.histogram once each", warned)
	}
	if page, _ := get(t, url, false); !strings.Contains(page, `ntp_time_last_offset_seconds{k8s_node_name="node-a"} 0.25`+"\n") {
		t.Errorf("the second batch's value is not served:\n%s", page)
	}
}

// A series no batch has carried for metric_expiration disappears, on a pull
// as well as on the next batch; a family with no series left goes with it.
func TestExpiration(t *testing.T) {
	e, c, _, url := startExporter(t, &Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute, ResourceLabels: []string{"k8s.node.name"}})
	ctx := context.Background()
	if err := e.ConsumeMetrics(ctx, batch("node-a", 1)); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(40 * time.Second)
	if err := e.ConsumeMetrics(ctx, batch("node-b", 2)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		after      time.Duration
		want, gone []string
	}{
		{0, []string{`node-a"} 1`, `node-b"} 2`}, nil},
		{20*time.Second + time.Millisecond, []string{`node-b"} 2`}, []string{`node-a"`}},
		{time.Minute, nil, []string{`node-b"`, "# TYPE"}},
	}
	for _, tt := range tests {
		c.t = c.t.Add(tt.after)
		page, _ := get(t, url, false)
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("after +%v: %q missing:\n%s", tt.after, w, page)
			}
		}
		for _, g := range tt.gone {
			if strings.Contains(page, g) {
				t.Errorf("after +%v: %q still served:\n%s", tt.after, g, page)
			}
		}
	}
}

// A point flagged as having no recorded value (a stale marker) removes its
// series at once.
func TestNoRecordedValueRemovesSeries(t *testing.T) {
	e, _, _, url := startExporter(t, &Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Hour})
	ctx := context.Background()
	if err := e.ConsumeMetrics(ctx, batch("n", 1)); err != nil {
		t.Fatal(err)
	}
	md := batch("n", 1)
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	if err := e.ConsumeMetrics(ctx, md); err != nil {
		t.Fatal(err)
	}
	if page, _ := get(t, url, false); strings.Contains(page, "ntp_time_last_offset_seconds") {
		t.Errorf("stale series still served:\n%s", page)
	}
}

func TestServeMethodsAndPaths(t *testing.T) {
	_, _, _, url := startExporter(t, &Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute})
	for _, tt := range []struct {
		method, url string
		status      int
	}{
		{http.MethodGet, url, 200},
		{http.MethodHead, url, 200},
		{http.MethodPost, url, 405},
		{http.MethodGet, strings.TrimSuffix(url, "metrics") + "other", 404},
	} {
		req, _ := http.NewRequest(tt.method, tt.url, bytes.NewReader(nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.url, resp.StatusCode, tt.status)
		}
	}
}

func TestStartFailsOnBusyEndpoint(t *testing.T) {
	_, _, _, url := startExporter(t, &Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute})
	busy := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")
	e := newExporter(&Config{Endpoint: busy, Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute}, zap.NewNop())
	err := e.Start(context.Background(), componenttest.NewNopHost())
	if err == nil || !strings.Contains(err.Error(), busy) {
		t.Fatalf("Start on a busy endpoint: %v, want an error naming %s", err, busy)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"valid", Config{Endpoint: "0.0.0.0:9464", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute, ResourceLabels: []string{"a"}}, ""},
		{"no endpoint", Config{MetricExpiration: time.Minute}, "endpoint must be set"},
		{"no port", Config{Endpoint: "localhost", MetricExpiration: time.Minute}, `endpoint "localhost"`},
		{"zero expiration", Config{Endpoint: ":1"}, "metric_expiration must be positive"},
		{"duplicate label", Config{Endpoint: ":1", MetricExpiration: time.Minute, ResourceLabels: []string{"a", "a"}}, `"a" listed twice`},
		{"empty label", Config{Endpoint: ":1", MetricExpiration: time.Minute, ResourceLabels: []string{""}}, "empty attribute name"},
		{"zero write timeout", Config{Endpoint: ":1", MetricExpiration: time.Minute, Limits: limitsWith(func(l *httpserver.Limits) { l.WriteTimeout = 0 })}, "write_timeout must be positive"},
		{"no connections", Config{Endpoint: ":1", MetricExpiration: time.Minute, Limits: limitsWith(func(l *httpserver.Limits) { l.MaxConnections = 0 })}, "max_connections must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	if err := createDefaultConfig().(*Config).Validate(); err == nil || !strings.Contains(err.Error(), "endpoint must be set") {
		t.Errorf("the default configuration must ask for an endpoint, got %v", err)
	}
}

func limitsWith(modify func(*httpserver.Limits)) httpserver.Limits {
	l := httpserver.DefaultLimits()
	modify(&l)
	return l
}

// The limits are keys of the exporter's own configuration; those not given
// keep their defaults.
func TestConfigUnmarshalLimits(t *testing.T) {
	tests := []struct {
		name string
		conf map[string]any
		want httpserver.Limits
	}{
		{"defaults", map[string]any{"endpoint": ":9464"}, httpserver.DefaultLimits()},
		{"one set", map[string]any{"endpoint": ":9464", "max_connections": 8}, limitsWith(func(l *httpserver.Limits) { l.MaxConnections = 8 })},
		{"all set", map[string]any{
			"endpoint": ":9464", "read_header_timeout": "1s", "read_timeout": "2s", "write_timeout": "3s",
			"idle_timeout": "4s", "max_connections": 5, "shutdown_timeout": "6s",
		}, httpserver.Limits{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
			IdleTimeout: 4 * time.Second, MaxConnections: 5, ShutdownTimeout: 6 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if err := confmap.NewFromStringMap(tt.conf).Unmarshal(cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Limits != tt.want {
				t.Errorf("limits %+v, want %+v", cfg.Limits, tt.want)
			}
			if err := cfg.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// The attack on the exporter: clients that send pipelined pulls
// and stop reading once their first page has begun keep the handlers
// blocked writing it; Shutdown, called without a deadline as the collector
// calls it, still returns, after shutdown_timeout.
func TestNonReadingClientsCannotHoldShutdown(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	cfg.ResourceLabels = []string{"k8s.node.name"}
	cfg.ShutdownTimeout = 200 * time.Millisecond
	core, logs := observer.New(zap.InfoLevel)
	e := newExporter(cfg, zap.New(core))
	if err := e.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	// A page larger than the socket buffers (4 MiB at most on loopback):
	// the node name is on each of its series.
	if err := e.ConsumeMetrics(context.Background(), batch(strings.Repeat("n", 1<<20), 0.5)); err != nil {
		t.Fatal(err)
	}
	const clients = 5
	pulls := strings.Repeat("GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n", 3000)
	for range clients {
		c, err := net.Dial("tcp", e.server.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		if _, err := io.WriteString(c, pulls); err != nil {
			t.Fatal(err)
		}
		// The page has begun: its handler is writing, and stays blocked.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("no page begun: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- e.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown has not returned after 5 s")
	}
	closed := logs.FilterMessageSnippet("still open at the shutdown deadline were closed").All()
	if len(closed) != 1 || closed[0].ContextMap()["connections"] != int64(clients) {
		t.Errorf("want one log line saying %d connections were closed at the deadline, got %v", clients, closed)
	}
}
