// Package reasonlog turns a stream of outcomes into one log line per change:
// a WARN when failures start or their reason changes, an INFO when they stop.
// What varies from one occurrence of a cause to the next does not make a new
// reason: counts, ports and sequence numbers, and whatever an error in the
// chain leaves out of its Reason (a reply socket's random name, which invalid
// datagram came last). The WARN carries the first occurrence's full text;
// later ones are logged at debug level.
package reasonlog

import (
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Log is the state of one stream; the zero value with Logger and the two
// messages set is ready.
type Log struct {
	Logger *zap.Logger
	// Failed is the WARN message, Recovered the INFO message.
	Failed, Recovered string

	failing bool
	reason  string
	since   time.Time
}

var digits = regexp.MustCompile(`[0-9]+`)

// reasoner is an error that tells its cause apart from the details of one
// occurrence, as the chrony transport's errors do.
type reasoner interface {
	Reason() string
}

// reasonKey is what tells two failures apart for logging: err's text with the
// text of every reasoner in its chain replaced by its Reason, and numbers
// masked. The wrapping around a reasoner (which report was being read) stays.
func reasonKey(err error) string {
	text := err.Error()
	var visit func(e error)
	visit = func(e error) {
		if r, ok := e.(reasoner); ok && r.Reason() != "" {
			if detail := e.Error(); detail != "" {
				text = strings.Replace(text, detail, r.Reason(), 1)
			}
			// Its own text, causes included, is replaced whole.
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if inner := u.Unwrap(); inner != nil {
				visit(inner)
			}
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if inner != nil {
					visit(inner)
				}
			}
		}
	}
	visit(err)
	return digits.ReplaceAllString(text, "#")
}

// Observe records one outcome; fields say which stream it is.
func (l *Log) Observe(err error, fields ...zap.Field) {
	if err == nil {
		if l.failing {
			l.Logger.Info(l.Recovered, append(fields, zap.Duration("failing_for", time.Since(l.since)))...)
			l.failing, l.reason = false, ""
		}
		return
	}
	reason := reasonKey(err)
	if l.failing && reason == l.reason {
		l.Logger.Debug(l.Failed, append(fields, zap.Error(err))...)
		return
	}
	if !l.failing {
		l.since = time.Now()
	}
	l.failing, l.reason = true, reason
	l.Logger.Warn(l.Failed, append(fields, zap.String("error", err.Error()))...)
}
