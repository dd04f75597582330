package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/crosscheck"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// Config keeps the collector-contrib chrony receiver's keys and their meaning;
// its defaults and the bound on timeout differ (README: Configuration).
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

	// PerSourceMetrics switches every ntp.source.* metric on at once: the
	// per-source detail (about 20 series per source) is off by default, as
	// it is what a user pays for most and an auditor needs least.
	PerSourceMetrics bool `mapstructure:"per_source_metrics"`

	// CrossCheck measures the local clock against independent NTP servers,
	// to hold chronyd's bound against UTC from outside. Off without servers.
	CrossCheck CrossCheckConfig `mapstructure:"cross_check"`

	_ struct{}
}

// CrossCheckConfig is the cross_check block.
type CrossCheckConfig struct {
	// Servers are host:port (IPv4, [IPv6] or a name, resolved per query).
	Servers []string `mapstructure:"servers"`
	// Interval between two queries to one server, jittered by ±10%.
	Interval time.Duration `mapstructure:"interval"`
	// Timeout bounds one query.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxDistance is the largest root distance, (delay + root delay)/2 +
	// root dispersion, of a reply a bound is drawn from, as chrony's
	// maxdistance: a server farther from its UTC than that cannot bound the
	// clock usefully, and one that claims it may be lying.
	MaxDistance time.Duration `mapstructure:"max_distance"`

	_ struct{}
}

const (
	defaultCrossCheckInterval = 64 * time.Second
	defaultCrossCheckTimeout  = 2 * time.Second
	// minCrossCheckInterval keeps a fleet from hammering a time server:
	// chrony's own minimum poll against a public server is 64 s.
	minCrossCheckInterval = 16 * time.Second
)

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
		CrossCheck: CrossCheckConfig{Interval: defaultCrossCheckInterval, Timeout: defaultCrossCheckTimeout,
			MaxDistance: crosscheck.DefaultMaxDistance},
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
	errs = append(errs, c.CrossCheck.validate()...)
	return errors.Join(errs...)
}

func (c *CrossCheckConfig) validate() []error {
	if len(c.Servers) == 0 {
		return nil
	}
	var errs []error
	seen := map[string]bool{}
	for _, server := range c.Servers {
		host, port, err := net.SplitHostPort(server)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("cross_check::servers: %q: want host:port, as in time.windows.com:123: %w", server, err))
			continue
		case host == "":
			errs = append(errs, fmt.Errorf("cross_check::servers: %q: empty host", server))
		case seen[server]:
			errs = append(errs, fmt.Errorf("cross_check::servers: %q is listed twice", server))
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("cross_check::servers: %q: bad port %q: want 1 to 65535", server, port))
		}
		seen[server] = true
	}
	if c.Interval < minCrossCheckInterval {
		errs = append(errs, fmt.Errorf("cross_check::interval: %s is below the minimum of %s: a fleet would query its time servers too often", c.Interval, minCrossCheckInterval))
	}
	if c.Timeout <= 0 || c.Timeout >= c.Interval {
		errs = append(errs, fmt.Errorf("cross_check::timeout: %s must be positive and shorter than the interval %s", c.Timeout, c.Interval))
	}
	if c.MaxDistance <= 0 {
		errs = append(errs, fmt.Errorf("cross_check::max_distance: %s must be positive: no reply would be fit to bound the clock", c.MaxDistance))
	}
	return errs
}

// metricsConfig is the metric switches with per_source_metrics applied.
func (c *Config) metricsConfig() metadata.MetricsBuilderConfig {
	mbc := c.MetricsBuilderConfig
	if c.PerSourceMetrics {
		for _, enabled := range append(sourceSwitches(&mbc.Metrics), sourceStatsSwitches(&mbc.Metrics)...) {
			*enabled = true
		}
	}
	return mbc
}

// The ntp.source.* metrics, each listed once, by the chronyd report that
// feeds them: sources and sourcedata, or sourcestats (a request per source
// the scraper makes only when one of these is on). TestPerSourceMetricLists
// fails when a metric of metadata.yaml is in neither list.
func sourceSwitches(m *metadata.MetricsConfig) []*bool {
	return []*bool{
		&m.NtpSourceOffset.Enabled, &m.NtpSourceMeasuredOffset.Enabled, &m.NtpSourceOffsetError.Enabled,
		&m.NtpSourceStratum.Enabled, &m.NtpSourcePollInterval.Enabled, &m.NtpSourceReachability.Enabled,
		&m.NtpSourceLastSampleAge.Enabled, &m.NtpSourceState.Enabled, &m.NtpSourceMode.Enabled,
	}
}

func sourceStatsSwitches(m *metadata.MetricsConfig) []*bool {
	return []*bool{
		&m.NtpSourceSamples.Enabled, &m.NtpSourceRuns.Enabled, &m.NtpSourceSpan.Enabled,
		&m.NtpSourceStdDev.Enabled, &m.NtpSourceFrequencyResidual.Enabled, &m.NtpSourceSkew.Enabled,
		&m.NtpSourceEstimatedOffset.Enabled, &m.NtpSourceEstimatedOffsetError.Enabled,
	}
}

func anyOn(switches []*bool) bool {
	for _, on := range switches {
		if *on {
			return true
		}
	}
	return false
}

func (c *Config) wantsSources() bool {
	m := c.metricsConfig().Metrics
	return anyOn(sourceSwitches(&m)) || anyOn(sourceStatsSwitches(&m))
}

func (c *Config) wantsSourceStats() bool {
	m := c.metricsConfig().Metrics
	return anyOn(sourceStatsSwitches(&m))
}

func (c *Config) wantsServerStats() bool {
	m := c.Metrics
	return m.ChronyServerNtpPackets.Enabled || m.ChronyServerCommandPackets.Enabled ||
		m.ChronyServerNtsKeConnections.Enabled || m.ChronyServerNtpAuthenticatedPackets.Enabled ||
		m.ChronyServerNtpInterleavedPackets.Enabled || m.ChronyServerLogDrops.Enabled
}
