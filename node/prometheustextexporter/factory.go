package prometheustextexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"

	"github.com/chronyotel/otelcol-chrony/node/prometheustextexporter/internal/metadata"
)

// NewFactory returns the factory of the prometheustext exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createMetrics(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return newExporter(cfg.(*Config), set.Logger), nil
}
