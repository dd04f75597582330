//go:generate mdatagen metadata.yaml

// Package logtelemetry is the internal telemetry of otelcol-chrony-node: its
// own logs on stderr and nothing else. The collector's default telemetry
// (otelconftelemetry) links the OpenTelemetry SDK's configuration with every
// exporter and cloud resource detector; in a build this small that is a
// third of the binary and most of its resident pages (docs/benchmarks.md).
// Settings it cannot honour are refused with a message, not ignored.
package logtelemetry // import "github.com/chronyotel/otelcol-chrony/node/logtelemetry"

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configtelemetry"
	"go.opentelemetry.io/collector/service/telemetry"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config is service::telemetry.
type Config struct {
	Logs    LogsConfig    `mapstructure:"logs"`
	Metrics MetricsConfig `mapstructure:"metrics"`
	// Traces and Resource are accepted only empty, so that a configuration
	// written for the full distribution fails with a reason here.
	Traces   map[string]any `mapstructure:"traces"`
	Resource map[string]any `mapstructure:"resource"`
}

// LogsConfig is service::telemetry::logs.
type LogsConfig struct {
	Level             zapcore.Level `mapstructure:"level"`
	Encoding          string        `mapstructure:"encoding"`
	DisableCaller     bool          `mapstructure:"disable_caller"`
	DisableStacktrace bool          `mapstructure:"disable_stacktrace"`
	// Sampling, as the collector's default: after the first 10 messages of
	// a kind in a second, one in 100.
	Sampling bool `mapstructure:"sampling"`
}

// MetricsConfig is service::telemetry::metrics: only level none.
type MetricsConfig struct {
	Level   configtelemetry.Level `mapstructure:"level"`
	Readers []any                 `mapstructure:"readers"`
}

func createDefaultConfig() component.Config {
	return &Config{
		Logs:    LogsConfig{Level: zapcore.InfoLevel, Encoding: "console", Sampling: true},
		Metrics: MetricsConfig{Level: configtelemetry.LevelNone},
	}
}

const why = "otelcol-chrony-node has no internal metrics or traces, to keep its footprint small; run otelcol-chrony for them"

// Validate refuses what this telemetry cannot do.
func (c *Config) Validate() error {
	var errs []error
	if c.Logs.Encoding != "console" && c.Logs.Encoding != "json" {
		errs = append(errs, fmt.Errorf("logs::encoding must be console or json, got %q", c.Logs.Encoding))
	}
	if c.Metrics.Level != configtelemetry.LevelNone || len(c.Metrics.Readers) > 0 {
		errs = append(errs, fmt.Errorf("metrics: only level: none is supported (%s)", why))
	}
	if len(c.Traces) > 0 {
		errs = append(errs, fmt.Errorf("traces: not supported (%s)", why))
	}
	if len(c.Resource) > 0 {
		errs = append(errs, fmt.Errorf("resource: not supported (%s)", why))
	}
	return errors.Join(errs...)
}

// NewFactory returns the telemetry factory for the node build's manifest.
func NewFactory() telemetry.Factory {
	return telemetry.NewFactory(createDefaultConfig, telemetry.WithCreateLogger(createLogger))
}

func createLogger(_ context.Context, set telemetry.LoggerSettings, cfg component.Config) (*zap.Logger, component.ShutdownFunc, error) {
	c := cfg.(*Config)
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(c.Logs.Level)
	zc.Encoding = c.Logs.Encoding
	if c.Logs.Encoding == "console" {
		zc.EncoderConfig = zap.NewDevelopmentEncoderConfig()
	}
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.DisableCaller = c.Logs.DisableCaller
	zc.DisableStacktrace = c.Logs.DisableStacktrace
	zc.Sampling = nil
	if c.Logs.Sampling {
		zc.Sampling = &zap.SamplingConfig{Initial: 10, Thereafter: 100}
	}
	build := set.BuildZapLogger
	if build == nil {
		build = func(zc zap.Config, opts ...zap.Option) (*zap.Logger, error) { return zc.Build(opts...) }
	}
	logger, err := build(zc)
	if err != nil {
		return nil, nil, fmt.Errorf("logtelemetry: build the logger: %w", err)
	}
	return logger, func(context.Context) error {
		// Sync on stderr fails with EINVAL on some systems; nothing is lost.
		_ = logger.Sync()
		return nil
	}, nil
}
