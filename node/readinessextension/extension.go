package readinessextension

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
	"github.com/chronyotel/otelcol-chrony/node/readinessextension/internal/metadata"
)

// NewFactory returns the factory of the readiness extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig,
		func(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
			return newReadiness(cfg.(*Config), set.Logger), nil
		}, metadata.ExtensionStability)
}

var (
	_ extensioncapabilities.ComponentStatusWatcher = (*readiness)(nil)
	_ extensioncapabilities.PipelineWatcher        = (*readiness)(nil)
)

type componentState struct {
	status componentstatus.Status
	since  time.Time
	err    error
}

type readiness struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time

	mu         sync.Mutex
	pipelines  bool // between Ready and NotReady
	components map[string]componentState

	server *httpserver.Server
}

func newReadiness(cfg *Config, logger *zap.Logger) *readiness {
	return &readiness{cfg: cfg, logger: logger, now: time.Now, components: map[string]componentState{}}
}

func (r *readiness) Start(_ context.Context, _ component.Host) error {
	mux := http.NewServeMux()
	mux.HandleFunc(r.cfg.ReadinessPath, r.serveReadiness)
	mux.HandleFunc(r.cfg.LivenessPath, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("alive\n"))
	})
	var err error
	r.server, err = httpserver.Start("readiness", r.cfg.Endpoint, mux, r.cfg.Limits, r.logger)
	return err
}

func (r *readiness) Shutdown(ctx context.Context) error {
	return r.server.Shutdown(ctx)
}

func (r *readiness) Ready() error {
	r.mu.Lock()
	r.pipelines = true
	r.mu.Unlock()
	return nil
}

func (r *readiness) NotReady() error {
	r.mu.Lock()
	r.pipelines = false
	r.mu.Unlock()
	return nil
}

// Changed keeps each component's latest status and since when
// it has held it (by this extension's clock); a repeated status keeps its
// first time, so a recoverable error reported on every scrape still ages.
func (r *readiness) Changed(source *componentstatus.InstanceID, event *componentstatus.Event) {
	id := strings.ToLower(source.Kind().String()) + " " + source.ComponentID().String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if event.Status() == componentstatus.StatusStopped || event.Status() == componentstatus.StatusStopping {
		delete(r.components, id)
		return
	}
	if prev, ok := r.components[id]; ok && prev.status == event.Status() {
		prev.err = event.Err()
		r.components[id] = prev
		return
	}
	r.components[id] = componentState{status: event.Status(), since: r.now(), err: event.Err()}
}

// unready lists why the collector is not ready, empty when it is.
func (r *readiness) unready() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pipelines {
		return []string{"pipelines not started"}
	}
	now := r.now()
	var why []string
	for id, st := range r.components {
		switch st.status {
		case componentstatus.StatusRecoverableError:
			if now.Sub(st.since) < r.cfg.RecoveryDuration {
				continue
			}
			why = append(why, fmt.Sprintf("%s: recoverable error for %s: %v", id, now.Sub(st.since).Round(time.Second), st.err))
		case componentstatus.StatusPermanentError:
			why = append(why, fmt.Sprintf("%s: permanent error: %v", id, st.err))
		case componentstatus.StatusFatalError:
			why = append(why, fmt.Sprintf("%s: fatal error: %v", id, st.err))
		}
	}
	sort.Strings(why)
	return why
}

func (r *readiness) serveReadiness(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if why := r.unready(); len(why) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + strings.Join(why, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
