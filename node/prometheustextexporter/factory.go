package prometheustextexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
)

const typeStr = "prometheustext"

// NewFactory returns the factory of the prometheustext exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(component.MustNewType(typeStr), createDefaultConfig,
		exporter.WithMetrics(createMetrics, component.StabilityLevelAlpha))
}

func createMetrics(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return newExporter(cfg.(*Config), set.Logger), nil
}
