package testkit

import (
	"fmt"
	"os"
	"sync"
)

// Runner lets a program, not a test, run a lab: fatal errors end the program
// after the clean-ups registered so far have run.
type Runner struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (r *Runner) Helper() {}

func (r *Runner) Fatal(args ...any) { r.fail(fmt.Sprint(args...)) }

func (r *Runner) Fatalf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *Runner) Skipf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *Runner) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Close runs the clean-ups, last registered first.
func (r *Runner) Close() {
	r.mu.Lock()
	cleanups := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func (r *Runner) fail(msg string) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	fmt.Fprintln(os.Stderr, "lab:", msg)
	r.Close()
	os.Exit(1)
}
