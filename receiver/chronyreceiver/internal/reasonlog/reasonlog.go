// Package reasonlog turns a stream of outcomes into one log line per change:
// a WARN when failures start or their reason changes, an INFO when they stop.
// Counts, ports and sequence numbers in an error do not make a new reason.
package reasonlog

import (
	"regexp"
	"time"

	"go.uber.org/zap"
)

// Log is the state of one stream; the zero value with Logger and the two
// messages set is ready.
type Log struct {
	Logger *zap.Logger
	// Failed is the WARN message, Recovered the INFO message.
	Failed, Recovered string

	reason string
	since  time.Time
}

var digits = regexp.MustCompile(`[0-9]+`)

// Observe records one outcome; fields say which stream it is.
func (l *Log) Observe(err error, fields ...zap.Field) {
	if err == nil {
		if l.reason != "" {
			l.Logger.Info(l.Recovered, append(fields, zap.Duration("failing_for", time.Since(l.since)))...)
			l.reason = ""
		}
		return
	}
	reason := digits.ReplaceAllString(err.Error(), "#")
	if reason == l.reason {
		l.Logger.Debug(l.Failed, append(fields, zap.Error(err))...)
		return
	}
	if l.reason == "" {
		l.since = time.Now()
	}
	l.reason = reason
	l.Logger.Warn(l.Failed, append(fields, zap.String("error", err.Error()))...)
}
