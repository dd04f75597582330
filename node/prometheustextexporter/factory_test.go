package prometheustextexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
)

// The factory as the collector uses it: the type configurations name, and
// an exporter that starts on its endpoint and shuts down.
func TestFactoryLifecycle(t *testing.T) {
	f := NewFactory()
	if got := f.Type().String(); got != "prometheustext" {
		t.Fatalf("type %q", got)
	}
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if err := exp.ConsumeMetrics(context.Background(), batch("n", 1)); err != nil {
		t.Error(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
