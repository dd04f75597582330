//go:generate mdatagen metadata.yaml

// Package readinessextension answers a kubelet's probes from the components'
// status: readiness fails while a component reports an error (a recoverable
// one once it has lasted recovery_duration), liveness only says the
// collector runs. It is the few lines of the contrib health check that a
// DaemonSet needs, without its gRPC server and its weight (docs/benchmarks.md).
package readinessextension // import "github.com/chronyotel/otelcol-chrony/node/readinessextension"

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
)

// Config is the extension's configuration.
type Config struct {
	// Endpoint is the host:port both probes are served on.
	Endpoint string `mapstructure:"endpoint"`
	// ReadinessPath answers 200 while every component is well, 503 when not.
	ReadinessPath string `mapstructure:"readiness_path"`
	// LivenessPath answers 200 while the collector runs.
	LivenessPath string `mapstructure:"liveness_path"`
	// RecoveryDuration is how long a recoverable error may last before the
	// collector is reported not ready; a permanent or fatal error counts at
	// once.
	RecoveryDuration time.Duration `mapstructure:"recovery_duration"`
	// Limits bound what a client can hold of the port: timeouts, open
	// connections and how long shutdown waits (node/README.md).
	httpserver.Limits `mapstructure:",squash"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{ReadinessPath: "/ready", LivenessPath: "/live", RecoveryDuration: 10 * time.Second, Limits: httpserver.DefaultLimits()}
}

// Validate reports configuration errors before the collector starts.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set (host:port to serve the probes on)"))
	} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q: %w", c.Endpoint, err))
	}
	for _, p := range []struct{ key, path string }{{"readiness_path", c.ReadinessPath}, {"liveness_path", c.LivenessPath}} {
		if !strings.HasPrefix(p.path, "/") {
			errs = append(errs, fmt.Errorf("%s must start with /, got %q", p.key, p.path))
		}
	}
	if c.ReadinessPath == c.LivenessPath {
		errs = append(errs, fmt.Errorf("readiness_path and liveness_path must differ, both are %q", c.ReadinessPath))
	}
	if c.RecoveryDuration < 0 {
		errs = append(errs, fmt.Errorf("recovery_duration must not be negative, got %v", c.RecoveryDuration))
	}
	if err := c.Limits.Check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
