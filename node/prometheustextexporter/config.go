//go:generate mdatagen metadata.yaml

// Package prometheustextexporter serves the latest gauges and cumulative sums
// in the Prometheus text format, rendered once per batch that arrives rather
// than on every pull, with the names the contrib Prometheus exporter gives
// them. It exists for otelcol-chrony-node, whose footprint on every node is
// the point: see docs/benchmarks.md.
package prometheustextexporter // import "github.com/chronyotel/otelcol-chrony/node/prometheustextexporter"

import (
	"errors"
	"fmt"
	"net"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
)

// Config is the exporter's configuration.
type Config struct {
	// Endpoint is the host:port /metrics is served on.
	Endpoint string `mapstructure:"endpoint"`
	// MetricExpiration drops a series that no batch has carried for this
	// long, so a source chronyd stopped using disappears.
	MetricExpiration time.Duration `mapstructure:"metric_expiration"`
	// ResourceLabels are resource attributes copied onto every series as
	// labels, as the contrib exporter's resource_constant_labels.included.
	ResourceLabels []string `mapstructure:"resource_labels"`
	// Limits bound what a client can hold of the port: timeouts, open
	// connections and how long shutdown waits (node/README.md).
	httpserver.Limits `mapstructure:",squash"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{MetricExpiration: 5 * time.Minute, Limits: httpserver.DefaultLimits()}
}

// Validate reports configuration errors before the collector starts.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set (host:port to serve /metrics on)"))
	} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: %w", c.Endpoint, err))
	}
	if c.MetricExpiration <= 0 {
		errs = append(errs, fmt.Errorf("metric_expiration must be positive, got %v", c.MetricExpiration))
	}
	seen := map[string]bool{}
	for _, k := range c.ResourceLabels {
		if k == "" {
			errs = append(errs, errors.New("resource_labels: empty attribute name"))
		} else if seen[k] {
			errs = append(errs, fmt.Errorf("resource_labels: %q listed twice", k))
		}
		seen[k] = true
	}
	if err := c.Limits.Check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
