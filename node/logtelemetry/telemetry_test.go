package logtelemetry

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/config/configtelemetry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/service/telemetry"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// service::telemetry as users write it: what this telemetry honours decodes
// and validates; what it cannot honour is refused with the reason.
func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]any
		want string // substring of the error, "" for valid
	}{
		{"empty", map[string]any{}, ""},
		{"logs", map[string]any{"logs": map[string]any{"level": "debug", "encoding": "json", "sampling": false}}, ""},
		{"metrics none", map[string]any{"metrics": map[string]any{"level": "none"}}, ""},
		{"metrics basic", map[string]any{"metrics": map[string]any{"level": "basic"}}, "only level: none"},
		{"metrics readers", map[string]any{"metrics": map[string]any{"level": "none", "readers": []any{map[string]any{"pull": map[string]any{}}}}}, "only level: none"},
		{"traces", map[string]any{"traces": map[string]any{"processors": []any{}}}, "traces: not supported"},
		{"resource", map[string]any{"resource": map[string]any{"service.name": "x"}}, "resource: not supported"},
		{"encoding", map[string]any{"logs": map[string]any{"encoding": "logfmt"}}, "console or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err := confmap.NewFromStringMap(tt.raw).Unmarshal(cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if cfg.Metrics.Level != configtelemetry.LevelNone || cfg.Logs.Level != zapcore.InfoLevel || cfg.Logs.Encoding != "console" {
		t.Errorf("defaults %+v", cfg)
	}
}

// The logger honours the level and is built through the service's hook;
// meter and tracer providers are no-ops.
func TestProviders(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Logs.Level = zapcore.WarnLevel
	var built zap.Config
	logger, shutdown, err := f.CreateLogger(context.Background(), telemetry.LoggerSettings{
		BuildZapLogger: func(zc zap.Config, opts ...zap.Option) (*zap.Logger, error) {
			built = zc
			return zc.Build(opts...)
		},
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if logger.Core().Enabled(zapcore.InfoLevel) || !logger.Core().Enabled(zapcore.WarnLevel) {
		t.Error("logger does not honour level warn")
	}
	if built.Encoding != "console" || built.Sampling == nil || built.Sampling.Initial != 10 || built.Sampling.Thereafter != 100 {
		t.Errorf("zap config %+v", built)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	mp, err := f.CreateMeterProvider(context.Background(), telemetry.MeterSettings{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
