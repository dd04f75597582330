package chronyreceiver

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
)

func loadConfig(t *testing.T, id string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub(id)
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return cfg
}

func TestLoadConfig(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		cfg := loadConfig(t, "chrony")
		if cfg.Endpoint != "" || cfg.CollectionInterval != 30*time.Second || cfg.Timeout != 10*time.Second {
			t.Errorf("defaults: endpoint %q interval %s timeout %s", cfg.Endpoint, cfg.CollectionInterval, cfg.Timeout)
		}
		if !cfg.Metrics.NtpTimeMaxError.Enabled || cfg.Metrics.ChronyServerNtpPackets.Enabled {
			t.Error("max_error must be on and serverstats off by default")
		}
		if cc := cfg.CrossCheck; len(cc.Servers) != 0 || cc.Interval != 64*time.Second || cc.Timeout != 2*time.Second || cc.MaxDistance != 3*time.Second {
			t.Errorf("cross_check defaults %+v, want off, 64s, 2s and chrony's maxdistance of 3s", cc)
		}
		if cfg.wantsSources() || cfg.wantsSourceStats() || cfg.wantsServerStats() || cfg.PerSourceMetrics {
			t.Error("default reports: tracking only; per-source detail and serverstats are opt-in")
		}
		cfg.PerSourceMetrics = true
		if !cfg.wantsSources() || !cfg.wantsSourceStats() {
			t.Error("per_source_metrics does not switch the per-source reports on")
		}
	})
	t.Run("contrib test config", func(t *testing.T) {
		cfg := loadConfig(t, "chrony/custom")
		if cfg.Endpoint != "udp://localhost:3030" || cfg.Timeout != 10*time.Second {
			t.Errorf("got endpoint %q timeout %s", cfg.Endpoint, cfg.Timeout)
		}
	})
	t.Run("contrib metric switches", func(t *testing.T) {
		cfg := loadConfig(t, "chrony/contrib_metrics")
		if !cfg.Metrics.NtpFrequencyOffset.Enabled || cfg.Metrics.NtpSkew.Enabled || !cfg.Metrics.NtpStratum.Enabled {
			t.Errorf("metric switches not applied: %+v", cfg.Metrics.NtpSkew)
		}
		if cfg.CollectionInterval != time.Minute {
			t.Errorf("collection_interval %s", cfg.CollectionInterval)
		}
	})
	t.Run("full", func(t *testing.T) {
		cfg := loadConfig(t, "chrony/full")
		if cfg.ReplySocketDir != "/var/run/otelcol-chrony" || cfg.InitialDelay != 2*time.Second || cfg.Timeout != 5*time.Second || cfg.CollectionInterval != 15*time.Second {
			t.Errorf("got %+v", cfg)
		}
		if cfg.Metrics.NtpTimeClockError.Enabled || !cfg.Metrics.ChronyServerNtpPackets.Enabled || !cfg.wantsServerStats() {
			t.Error("metric switches not applied")
		}
		if cfg.ResourceAttributes.ChronyEndpoint.Enabled {
			t.Error("resource attribute switch not applied")
		}
		if !cfg.PerSourceMetrics || !cfg.wantsSourceStats() {
			t.Error("per_source_metrics not applied")
		}
		cc := cfg.CrossCheck
		if len(cc.Servers) != 3 || cc.Servers[1] != "[2001:db8::123]:123" || cc.Interval != 128*time.Second || cc.Timeout != 3*time.Second ||
			cc.MaxDistance != 1500*time.Millisecond {
			t.Errorf("cross_check %+v", cc)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"unknown scheme", func(c *Config) { c.Endpoint = "tcp://localhost:323" }, `endpoint "tcp://localhost:323": unknown scheme "tcp"`},
		{"no scheme", func(c *Config) { c.Endpoint = "localhost:323" }, `endpoint "localhost:323"`},
		{"empty host", func(c *Config) { c.Endpoint = "udp://:323" }, `endpoint "udp://:323": empty host`},
		{"port zero", func(c *Config) { c.Endpoint = "udp://localhost:0" }, `bad port "0"`},
		{"port too big", func(c *Config) { c.Endpoint = "udp://localhost:65536" }, `bad port "65536"`},
		{"port not a number", func(c *Config) { c.Endpoint = "udp://localhost:ntp" }, `bad port "ntp"`},
		{"no port", func(c *Config) { c.Endpoint = "udp://localhost" }, `endpoint "udp://localhost": want udp://host:port`},
		{"unix relative", func(c *Config) { c.Endpoint = "unix://run/chrony/chronyd.sock" }, `needs an absolute path, as in unix:///run/chrony/chronyd.sock`},
		{"unix empty", func(c *Config) { c.Endpoint = "unix://" }, `needs an absolute path`},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, `timeout: 0s would let a wedged chronyd hold a scrape forever`},
		{"timeout beyond interval", func(c *Config) { c.Timeout = 87600 * time.Hour }, `timeout: 87600h0m0s is longer than collection_interval 30s`},
		{"timeout beyond a long interval", func(c *Config) { c.CollectionInterval = time.Minute; c.Timeout = 2 * time.Minute }, `timeout: 2m0s is longer than collection_interval 1m0s`},
		{"interval 1ns", func(c *Config) { c.CollectionInterval = time.Nanosecond }, `collection_interval: 1ns is below the minimum of 100ms`},
		{"negative initial delay", func(c *Config) { c.InitialDelay = -time.Second }, `initial_delay: -1s is negative`},
		{"serverstats while probing", func(c *Config) { c.Metrics.ChronyServerLogDrops.Enabled = true }, `endpoint: empty, so chronyd is probed and may be found over UDP`},
		{"reply dir is a file", func(c *Config) { c.ReplySocketDir = "/etc/hostname" }, `reply_socket_dir: "/etc/hostname" is not a directory`},
		{"serverstats over udp", func(c *Config) {
			c.Endpoint = "udp://127.0.0.1:323"
			c.Metrics.ChronyServerCommandPackets.Enabled = true
		}, `serverstats report, which chronyd serves only over the unix socket`},
		{"relative reply dir", func(c *Config) { c.ReplySocketDir = "run/chrony" }, `reply_socket_dir: "run/chrony" is not an absolute path`},
		{"zero interval", func(c *Config) { c.CollectionInterval = 0 }, `collection_interval`},
		{"cross-check server without port", func(c *Config) { c.CrossCheck.Servers = []string{"time.windows.com"} }, `cross_check::servers: "time.windows.com": want host:port`},
		{"cross-check server port 0", func(c *Config) { c.CrossCheck.Servers = []string{"time.windows.com:0"} }, `bad port "0"`},
		{"cross-check server empty host", func(c *Config) { c.CrossCheck.Servers = []string{":123"} }, `":123": empty host`},
		{"cross-check server twice", func(c *Config) { c.CrossCheck.Servers = []string{"a:123", "a:123"} }, `"a:123" is listed twice`},
		{"cross-check interval 15s", func(c *Config) { c.CrossCheck.Servers = []string{"a:123"}; c.CrossCheck.Interval = 15 * time.Second },
			`cross_check::interval: 15s is below the minimum of 16s`},
		{"cross-check timeout zero", func(c *Config) { c.CrossCheck.Servers = []string{"a:123"}; c.CrossCheck.Timeout = 0 },
			`cross_check::timeout: 0s must be positive`},
		{"cross-check max distance zero", func(c *Config) { c.CrossCheck.Servers = []string{"a:123"}; c.CrossCheck.MaxDistance = 0 },
			`cross_check::max_distance: 0s must be positive`},
		{"cross-check max distance negative", func(c *Config) { c.CrossCheck.Servers = []string{"a:123"}; c.CrossCheck.MaxDistance = -time.Second },
			`cross_check::max_distance: -1s must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tt.modify(cfg)
			err := confmap.Validate(cfg)
			if err == nil {
				t.Fatalf("accepted; want an error saying %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	// A negative timeout is reported once, by scraperhelper, not twice.
	cfg := createDefaultConfig()
	cfg.Timeout = -5 * time.Second
	err := confmap.Validate(cfg)
	if err == nil || strings.Count(err.Error(), "timeout") != 1 {
		t.Errorf("timeout -5s: %v, want the timeout named exactly once", err)
	}
}

func TestValidateAccepts(t *testing.T) {
	withCrossCheck := createDefaultConfig()
	withCrossCheck.CrossCheck.Servers = []string{"time.windows.com:123", "[::1]:123", "127.0.0.1:123"}
	if err := confmap.Validate(withCrossCheck); err != nil {
		t.Errorf("cross-check servers rejected: %v", err)
	}
	for _, endpoint := range []string{
		"", "unix:///run/chrony/chronyd.sock", "unixgram:///var/run/chrony/chronyd.sock",
		"udp://127.0.0.1:323", "udp://[::1]:323", "udp://localhost:3030", "udp://chrony.example:323",
	} {
		cfg := createDefaultConfig()
		cfg.Endpoint = endpoint
		if err := confmap.Validate(cfg); err != nil {
			t.Errorf("%q rejected: %v", endpoint, err)
		}
	}
	// serverstats over the unix socket.
	for _, endpoint := range []string{"unix:///run/chrony/chronyd.sock"} {
		cfg := createDefaultConfig()
		cfg.Endpoint = endpoint
		cfg.Metrics.ChronyServerNtpPackets.Enabled = true
		if err := confmap.Validate(cfg); err != nil {
			t.Errorf("serverstats with %q rejected: %v", endpoint, err)
		}
	}
}

// Every ntp.source.* metric of metadata.yaml (a field of the generated
// MetricsConfig whose key starts so) is in exactly one of the scraper's two
// lists: one missing would escape per_source_metrics and never make the
// scraper ask chronyd for its report.
func TestPerSourceMetricLists(t *testing.T) {
	var m metadata.MetricsConfig
	listed := map[*bool]int{}
	for _, sw := range append(sourceSwitches(&m), sourceStatsSwitches(&m)...) {
		listed[sw]++
	}
	v := reflect.ValueOf(&m).Elem()
	perSource := 0
	for i := range v.NumField() {
		key := v.Type().Field(i).Tag.Get("mapstructure")
		if !strings.HasPrefix(key, "ntp.source.") {
			continue
		}
		perSource++
		enabled := v.Field(i).FieldByName("Enabled").Addr().Interface().(*bool)
		if n := listed[enabled]; n != 1 {
			t.Errorf("%s is in %d of the per-source lists, want 1", key, n)
		}
	}
	if perSource != len(listed) {
		t.Errorf("the lists hold %d switches, metadata.yaml has %d ntp.source.* metrics", len(listed), perSource)
	}
	if perSource == 0 {
		t.Fatal("no ntp.source.* metric found in the generated MetricsConfig: has its mapstructure key changed?")
	}
}
