package readinessextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// The factory as the collector uses it: the type configurations name, an
// extension the service recognises as a status and pipeline watcher (it
// finds them by these interfaces), started and shut down.
func TestFactoryLifecycle(t *testing.T) {
	f := NewFactory()
	if got := f.Type().String(); got != "readiness" {
		t.Fatalf("type %q", got)
	}
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ext.(extensioncapabilities.ComponentStatusWatcher); !ok {
		t.Error("not a ComponentStatusWatcher: the service would never tell it a status")
	}
	if _, ok := ext.(extensioncapabilities.PipelineWatcher); !ok {
		t.Error("not a PipelineWatcher: it would never be ready")
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if err := ext.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
