package readinessextension

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pipeline"
	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The readiness answer through a collector's life: not ready before the
// pipelines start; ready; a recoverable error is tolerated for
// recovery_duration and then makes the collector unready, however often it
// is repeated; recovery makes it ready at once; a permanent error counts at
// once; a stopped component no longer counts. Liveness stays 200 throughout.
func TestReadinessFollowsComponentStatus(t *testing.T) {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	r := newReadiness(&Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), ReadinessPath: "/ready", LivenessPath: "/live", RecoveryDuration: 10 * time.Second}, zap.NewNop())
	r.now = c.now
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	addr := r.server.Addr()
	ready, live := "http://"+addr+"/ready", "http://"+addr+"/live"

	receiver := componentstatus.NewInstanceID(component.MustNewID("chrony"), component.KindReceiver, pipeline.NewID(pipeline.SignalMetrics))
	exporter := componentstatus.NewInstanceID(component.MustNewID("prometheustext"), component.KindExporter, pipeline.NewID(pipeline.SignalMetrics))
	// Events arrive at the step's time: the extension ages them by its own
	// clock.
	event := func(st componentstatus.Status, at time.Duration, err error) *componentstatus.Event {
		c.t = start.Add(at)
		if err != nil {
			return componentstatus.NewEvent(st, componentstatus.WithError(err))
		}
		return componentstatus.NewEvent(st)
	}
	chronydDown := errors.New("read tracking from udp://127.0.0.1:323: connection refused")
	steps := []struct {
		name   string
		do     func()
		at     time.Duration
		status int
		body   string
	}{
		{"before the pipelines start", func() {}, 0, 503, "pipelines not started"},
		{"pipelines ready", func() {
			_ = r.Ready()
			r.Changed(receiver, event(componentstatus.StatusOK, 0, nil))
			r.Changed(exporter, event(componentstatus.StatusOK, 0, nil))
		}, time.Second, 200, "ready"},
		{"recoverable error, fresh", func() { r.Changed(receiver, event(componentstatus.StatusRecoverableError, 2*time.Second, chronydDown)) }, 5 * time.Second, 200, "ready"},
		{"recoverable error, repeated, still within the window", func() {
			r.Changed(receiver, event(componentstatus.StatusRecoverableError, 11*time.Second, chronydDown))
		}, 11 * time.Second, 200, "ready"},
		{"recoverable error past the window", func() {}, 12 * time.Second, 503, "receiver chrony: recoverable error for 10s: read tracking from udp://127.0.0.1:323"},
		{"recovered", func() { r.Changed(receiver, event(componentstatus.StatusOK, 13*time.Second, nil)) }, 13 * time.Second, 200, "ready"},
		{"permanent error counts at once", func() {
			r.Changed(exporter, event(componentstatus.StatusPermanentError, 14*time.Second, errors.New("listen: address in use")))
		}, 14 * time.Second, 503, "exporter prometheustext: permanent error: listen: address in use"},
		{"a stopped component no longer counts", func() { r.Changed(exporter, event(componentstatus.StatusStopped, 15*time.Second, nil)) }, 15 * time.Second, 200, "ready"},
		{"shutting down", func() { _ = r.NotReady() }, 16 * time.Second, 503, "pipelines not started"},
	}
	for _, s := range steps {
		s.do()
		c.t = start.Add(s.at)
		status, body := probe(t, ready)
		if status != s.status || !strings.Contains(body, s.body) {
			t.Errorf("%s: %d %q, want %d containing %q", s.name, status, body, s.status, s.body)
		}
		if status, _ := probe(t, live); status != 200 {
			t.Errorf("%s: liveness %d, want 200", s.name, status)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := *createDefaultConfig().(*Config)
		c.Endpoint = "0.0.0.0:13533"
		return c
	}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint must be set"},
		{"bad endpoint", func(c *Config) { c.Endpoint = "13533" }, `endpoint "13533"`},
		{"relative path", func(c *Config) { c.ReadinessPath = "ready" }, "readiness_path must start with /"},
		{"same paths", func(c *Config) { c.LivenessPath = c.ReadinessPath }, "must differ"},
		{"negative recovery", func(c *Config) { c.RecoveryDuration = -time.Second }, "must not be negative"},
		{"zero idle timeout", func(c *Config) { c.IdleTimeout = 0 }, "idle_timeout must be positive"},
		{"no connections", func(c *Config) { c.MaxConnections = -1 }, "max_connections must be at least 1, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// The limits are keys of the extension's own configuration; those not given
// keep their defaults.
func TestConfigUnmarshalLimits(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	conf := confmap.NewFromStringMap(map[string]any{"endpoint": ":13533", "idle_timeout": "30s", "max_connections": 4})
	if err := conf.Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	want := httpserver.DefaultLimits()
	want.IdleTimeout, want.MaxConnections = 30*time.Second, 4
	if cfg.Limits != want {
		t.Errorf("limits %+v, want %+v", cfg.Limits, want)
	}
}

// The attack on the probe port, scaled down: a connection over
// max_connections is closed at once while the others are answered, and
// keep-alive connections to /live are closed after idle_timeout (each on a
// port of its own, so that the idle timeout cannot free a place before the
// refusal is tried).
func TestProbePortLimits(t *testing.T) {
	serve := func(modify func(*Config)) string {
		cfg := createDefaultConfig().(*Config)
		cfg.Endpoint = "127.0.0.1:0"
		modify(cfg)
		r := newReadiness(cfg, zap.NewNop())
		if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := r.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
		return r.server.Addr()
	}
	dial := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	live := func(c net.Conn, br *bufio.Reader) {
		if _, err := io.WriteString(c, "GET /live HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "alive\n" || resp.Close {
			t.Fatalf("/live: %d %q, close %v; want a kept-alive 200 alive", resp.StatusCode, body, resp.Close)
		}
	}

	capped := serve(func(c *Config) { c.MaxConnections = 2 })
	var held []net.Conn
	var readers []*bufio.Reader
	for range 2 {
		c := dial(capped)
		br := bufio.NewReader(c)
		live(c, br)
		held, readers = append(held, c), append(readers, br)
	}
	if n, err := dial(capped).Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Errorf("a connection over max_connections: read %d bytes, %v; want it closed", n, err)
	}
	for i, c := range held {
		live(c, readers[i])
	}

	idle := serve(func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	for i := range 3 {
		c := dial(idle)
		live(c, bufio.NewReader(c))
		if _, err := io.Copy(io.Discard, c); isTimeout(err) {
			t.Errorf("keep-alive connection %d still open after 5 s", i)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
