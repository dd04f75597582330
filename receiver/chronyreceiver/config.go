package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// Config is a superset of the collector-contrib chrony receiver's: a contrib
// configuration loads unchanged and means the same.
type Config struct {
	// ControllerConfig brings collection_interval, initial_delay and timeout;
	// timeout bounds a whole scrape, retries included.
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Endpoint is unix:///path, unixgram:///path or udp://host:port. Empty
	// means: find chronyd as chronyc does (unix:///run/chrony/chronyd.sock,
	// then udp://127.0.0.1:323, then udp://[::1]:323).
	Endpoint string `mapstructure:"endpoint"`

	// ReplySocketDir is where the unix reply socket is created; chronyd must
	// be able to write into it. Empty means the directory of chronyd's socket,
	// as chronyc does. Set it when the two only share another volume.
	ReplySocketDir string `mapstructure:"reply_socket_dir"`

	_ struct{}
}

const (
	defaultCollectionInterval = 30 * time.Second
	defaultTimeout            = 10 * time.Second
)

func createDefaultConfig() *Config {
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.CollectionInterval = defaultCollectionInterval
	cc.Timeout = defaultTimeout
	return &Config{
		ControllerConfig:     cc,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
	}
}

// Validate names the offending setting and value. A chronyd that is not there
// yet is not a configuration error: the receiver starts and reports it down.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %s is not positive", c.Timeout))
	}
	if c.Endpoint != "" {
		ep, err := transport.ParseEndpoint(c.Endpoint)
		if err != nil {
			errs = append(errs, err)
		} else if ep.Network == transport.UDP && c.wantsServerStats() {
			errs = append(errs, fmt.Errorf("endpoint %q: the chrony.server.* metrics need chronyd's serverstats report, which chronyd serves only over the unix socket", c.Endpoint))
		}
	}
	if c.ReplySocketDir != "" && !filepath.IsAbs(c.ReplySocketDir) {
		errs = append(errs, fmt.Errorf("reply_socket_dir: %q is not an absolute path", c.ReplySocketDir))
	}
	return errors.Join(errs...)
}

func (c *Config) wantsSources() bool {
	m := c.Metrics
	return m.NtpSourceOffset.Enabled || m.NtpSourceMeasuredOffset.Enabled || m.NtpSourceOffsetError.Enabled ||
		m.NtpSourceStratum.Enabled || m.NtpSourcePollInterval.Enabled || m.NtpSourceReachability.Enabled ||
		m.NtpSourceLastSampleAge.Enabled || m.NtpSourceState.Enabled || m.NtpSourceMode.Enabled ||
		c.wantsSourceStats()
}

func (c *Config) wantsSourceStats() bool {
	m := c.Metrics
	return m.NtpSourceSamples.Enabled || m.NtpSourceRuns.Enabled || m.NtpSourceSpan.Enabled ||
		m.NtpSourceStdDev.Enabled || m.NtpSourceFrequencyResidual.Enabled || m.NtpSourceSkew.Enabled ||
		m.NtpSourceEstimatedOffset.Enabled || m.NtpSourceEstimatedOffsetError.Enabled
}

func (c *Config) wantsServerStats() bool {
	m := c.Metrics
	return m.ChronyServerNtpPackets.Enabled || m.ChronyServerCommandPackets.Enabled ||
		m.ChronyServerNtsKeConnections.Enabled || m.ChronyServerNtpAuthenticatedPackets.Enabled ||
		m.ChronyServerNtpInterleavedPackets.Enabled || m.ChronyServerLogDrops.Enabled
}
