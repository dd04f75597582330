package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"regexp"
	"time"

	"go.uber.org/zap"
)

// problemLog turns a stream of scrape outcomes into one log line per change:
// a WARN when scrapes start failing or fail for another reason, an INFO when
// they succeed again. Counts and ports in the message do not make a new
// reason.
type problemLog struct {
	logger *zap.Logger
	reason string
	since  time.Time
}

var digits = regexp.MustCompile(`[0-9]+`)

func (p *problemLog) observe(endpoint string, err error) {
	if err == nil {
		if p.reason != "" {
			p.logger.Info("chronyd scrapes succeed again", zap.String("endpoint", endpoint), zap.Duration("failing_for", time.Since(p.since)))
			p.reason = ""
		}
		return
	}
	reason := digits.ReplaceAllString(err.Error(), "#")
	if reason == p.reason {
		p.logger.Debug("chronyd scrape failed", zap.String("endpoint", endpoint), zap.Error(err))
		return
	}
	if p.reason == "" {
		p.since = time.Now()
	}
	p.reason = reason
	p.logger.Warn("chronyd scrape failed; chrony.up and the missing series say so every scrape, this log only when the reason changes",
		zap.String("endpoint", endpoint), zap.String("error", err.Error()))
}
