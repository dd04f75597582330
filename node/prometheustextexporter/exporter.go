package prometheustextexporter

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
)

const contentType = "text/plain; version=0.0.4; charset=utf-8"

type promExporter struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	mu    sync.Mutex
	store *store
	// page is the rendered exposition. It is replaced, never modified, so a
	// handler can write it after releasing mu. It is served uncompressed:
	// a node's page is a few kilobytes, and gzip made a batch and pull half
	// again as expensive (BenchmarkBatchAndPull, docs/benchmarks.md).
	page []byte
	// expiresAt is when the oldest series in page expires: a pull after it
	// renders again, so series vanish even when no batch arrives.
	expiresAt time.Time
	warned    map[string]bool

	server *httpserver.Server
}

// The exporter is its own consumer: a batch is folded into the series
// store under one lock and rendered once, so no queue or retry helper is
// wanted (nothing can fail downstream).
var _ exporter.Metrics = (*promExporter)(nil)

func (e *promExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func newExporter(cfg *Config, logger *zap.Logger) *promExporter {
	return &promExporter{cfg: cfg, logger: logger, now: time.Now, store: newStore(cfg.ResourceLabels), warned: map[string]bool{}}
}

func (e *promExporter) Start(_ context.Context, _ component.Host) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", e.serveMetrics)
	var err error
	e.server, err = httpserver.Start("prometheustext", e.cfg.Endpoint, mux, e.cfg.Limits, e.logger)
	return err
}

func (e *promExporter) Shutdown(ctx context.Context) error {
	return e.server.Shutdown(ctx)
}

// ConsumeMetrics folds the batch into the store and renders the page once,
// so that a pull only writes bytes.
func (e *promExporter) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, skipped := range e.store.add(md, now) {
		if !e.warned[skipped.name] {
			e.warned[skipped.name] = true
			e.logger.Warn("prometheustext: metric not exported", zap.String("metric", skipped.name), zap.String("reason", skipped.reason))
		}
	}
	e.renderLocked(now)
	return nil
}

func (e *promExporter) renderLocked(now time.Time) {
	oldest := e.store.expire(now.Add(-e.cfg.MetricExpiration))
	var buf bytes.Buffer
	buf.Grow(len(e.page))
	e.store.render(&buf)
	e.page = buf.Bytes()
	e.expiresAt = time.Time{}
	if !oldest.IsZero() {
		e.expiresAt = oldest.Add(e.cfg.MetricExpiration)
	}
}

func (e *promExporter) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	e.mu.Lock()
	if now := e.now(); !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
		e.renderLocked(now)
	}
	body := e.page
	e.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
