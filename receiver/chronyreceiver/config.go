package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"errors"
	"fmt"
	"os"
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

// minCollectionInterval keeps a typo (1ns for 1s) from turning the receiver
// into a busy loop against chronyd.
const minCollectionInterval = 100 * time.Millisecond

// Validate names the offending setting and value. A chronyd that is not there
// yet is not a configuration error: the receiver starts and reports it down.
// Non-positive intervals and negative timeouts are scraperhelper's to report.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval > 0 && c.CollectionInterval < minCollectionInterval {
		errs = append(errs, fmt.Errorf("collection_interval: %s is below the minimum of %s", c.CollectionInterval, minCollectionInterval))
	}
	switch {
	case c.Timeout == 0:
		errs = append(errs, fmt.Errorf("timeout: 0s would let a wedged chronyd hold a scrape forever: set a positive timeout"))
	case c.Timeout > max(c.CollectionInterval, defaultTimeout):
		// A scrape that outlasts the interval delays the next one, and a wedged
		// chronyd would then report chrony.up 0 only once per timeout. The
		// default timeout stays valid with a shorter interval.
		errs = append(errs, fmt.Errorf("timeout: %s is longer than collection_interval %s (and than the default timeout %s)", c.Timeout, c.CollectionInterval, defaultTimeout))
	}
	if c.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("initial_delay: %s is negative", c.InitialDelay))
	}
	switch {
	case c.Endpoint != "":
		ep, err := transport.ParseEndpoint(c.Endpoint)
		if err != nil {
			errs = append(errs, err)
		} else if ep.Network == transport.UDP && c.wantsServerStats() {
			errs = append(errs, fmt.Errorf("endpoint %q: the chrony.server.* metrics need chronyd's serverstats report, which chronyd serves only over the unix socket", c.Endpoint))
		}
	case c.wantsServerStats():
		errs = append(errs, fmt.Errorf("endpoint: empty, so chronyd is probed and may be found over UDP, where it does not serve the serverstats report the chrony.server.* metrics need: set endpoint to unix://%s (or your chronyd's socket)", transport.DefaultUnixSocket))
	}
	if c.ReplySocketDir != "" {
		if !filepath.IsAbs(c.ReplySocketDir) {
			errs = append(errs, fmt.Errorf("reply_socket_dir: %q is not an absolute path", c.ReplySocketDir))
		} else if st, err := os.Stat(c.ReplySocketDir); err == nil && !st.IsDir() {
			// A missing directory may be a volume not mounted yet: a scrape
			// error then, not a configuration error.
			errs = append(errs, fmt.Errorf("reply_socket_dir: %q is not a directory", c.ReplySocketDir))
		}
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
