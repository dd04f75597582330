package reasonlog

import (
	"errors"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// detailed is an error whose text varies with each occurrence and whose
// reason does not, as the transport's errors are.
type detailed struct {
	text, reason string
	cause        error
}

func (e *detailed) Error() string  { return e.text }
func (e *detailed) Reason() string { return e.reason }
func (e *detailed) Unwrap() error  { return e.cause }

func TestReasonKey(t *testing.T) {
	wedged := func(socket string) error {
		return &detailed{text: "no tracking reply: read unixgram /run/chrony/otelcol-chrony.1." + socket + ".sock: i/o timeout", reason: "chronyd does not answer"}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"plain text, numbers masked", errors.New("no reply after 3 tries from 127.0.0.1:323"), "no reply after # tries from #.#.#.#:#"},
		{"reasoner", wedged("ab12cd"), "chronyd does not answer"},
		{"wrapped reasoner keeps the wrapping", fmt.Errorf("tracking: %w", wedged("ef34ab")), "tracking: chronyd does not answer"},
		{"joined", errors.Join(errors.New("first 1"), fmt.Errorf("second: %w", wedged("cd"))), "first #\nsecond: chronyd does not answer"},
		{"empty reason keeps the text", fmt.Errorf("x: %w", &detailed{text: "text 7"}), "x: text #"},
		{"reasoner inside a reasoner", &detailed{text: "outer " + wedged("aa").Error(), reason: "outer reason", cause: wedged("aa")}, "outer reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonKey(tt.err); got != tt.want {
				t.Errorf("reasonKey(%q) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// One WARN per change of reason, the first occurrence's text in it, the
// rest at debug level; one INFO on recovery.
func TestObserveOncePerReason(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := Log{Logger: zap.New(core), Failed: "failed", Recovered: "recovered"}
	occurrence := func(socket, reason string) error {
		return fmt.Errorf("tracking: %w", &detailed{text: "via " + socket, reason: reason})
	}
	l.Observe(nil)
	l.Observe(occurrence("ab", "wedged"))
	l.Observe(occurrence("cd", "wedged"))
	l.Observe(occurrence("ef", "wedged"))
	l.Observe(occurrence("ef", "refused"))
	l.Observe(occurrence("ab", "refused"))
	l.Observe(nil)
	l.Observe(nil)
	l.Observe(occurrence("ab", "wedged"))

	var warned []string
	for _, e := range logs.FilterLevelExact(zap.WarnLevel).All() {
		warned = append(warned, e.ContextMap()["error"].(string))
	}
	if want := []string{"tracking: via ab", "tracking: via ef", "tracking: via ab"}; fmt.Sprint(warned) != fmt.Sprint(want) {
		t.Errorf("WARN lines %q, want %q", warned, want)
	}
	if n := logs.FilterLevelExact(zap.DebugLevel).Len(); n != 3 {
		t.Errorf("%d debug lines, want 3", n)
	}
	if n := logs.FilterLevelExact(zap.InfoLevel).FilterMessage("recovered").Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}
