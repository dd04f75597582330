package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
)

// NewFactory creates the factory for the chrony receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	rCfg := cfg.(*Config)
	s := newScraper(rCfg, set, newChronyReader)
	sc, err := scraper.NewMetrics(s.scrapeAndLog, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	if err != nil {
		return nil, err
	}
	ctrl, err := scraperhelper.NewMetricsController(&rCfg.ControllerConfig, set, next, scraperhelper.AddMetricsScraper(metadata.Type, sc))
	if err != nil {
		return nil, err
	}
	return &chronyReceiver{Metrics: ctrl, stop: s.stop}, nil
}

// chronyReceiver ends a running scrape before the controller's Shutdown,
// which waits for it: a collector stops within moments of SIGTERM even when
// chronyd is wedged and the scrape's timeout is long.
type chronyReceiver struct {
	receiver.Metrics
	stop context.CancelFunc
}

func (r *chronyReceiver) Shutdown(ctx context.Context) error {
	r.stop()
	return r.Metrics.Shutdown(ctx)
}
