package crosscheck

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/reasonlog"
)

// Settings of a Checker.
type Settings struct {
	Servers  []string
	Interval time.Duration
	Timeout  time.Duration
	// MaxDistance is the largest root distance a reply may have to be fit
	// (DefaultMaxDistance is chrony's).
	MaxDistance time.Duration
}

// maxBackoff bounds how far RATE kisses stretch a server's interval.
const maxBackoff = 16

// Checker queries every server once per interval, each on its own jittered
// schedule so that a fleet does not query in lock-step, and keeps the latest
// outcome. A scrape reads the outcomes and never waits for a server.
type Checker struct {
	set    Settings
	logger *zap.Logger
	query  func(ctx context.Context, server string) (Measurement, error)
	// firstWithin spreads the first queries of a fleet that starts at once.
	firstWithin time.Duration

	mu     sync.Mutex
	latest map[string]*outcome

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type outcome struct {
	tried   bool
	m       Measurement
	err     error
	unfit   error
	backoff int // interval multiplier after RATE kisses
	log     reasonlog.Log
	// unfitLog follows the replies' fitness; failures to get a reply at all
	// go to log.
	unfitLog reasonlog.Log
}

// Result is a server's latest outcome.
type Result struct {
	Server string
	// Up is true when the latest query got a reply that passed the checks.
	Up bool
	M  Measurement
	// Unfit, when Up, says why no bound may be drawn from M; nil when fit.
	Unfit error
}

// New makes a Checker; Start runs it.
func New(set Settings, logger *zap.Logger) *Checker {
	c := &Checker{set: set, logger: logger, query: Query, firstWithin: 2 * time.Second, latest: map[string]*outcome{}}
	for _, s := range set.Servers {
		c.latest[s] = &outcome{backoff: 1,
			log: reasonlog.Log{Logger: logger,
				Failed: "cross-check failed; ntp.cross_check.up is 0 until it succeeds", Recovered: "cross-check succeeds again"},
			unfitLog: reasonlog.Log{Logger: logger,
				Failed:    "cross-check reply unfit to bound the clock; the server's offset, delay, error bound and consistency are not sent until a reply is fit",
				Recovered: "cross-check replies are fit again"}}
	}
	return c
}

// Start queries every server: the first time after a random fraction of a
// few seconds, then every interval ±10%.
func (c *Checker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for _, server := range c.set.Servers {
		c.wg.Go(func() { c.run(ctx, server) })
	}
}

// Shutdown stops querying and waits for queries in flight.
func (c *Checker) Shutdown() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

func (c *Checker) run(ctx context.Context, server string) {
	wait := rand.N(c.firstWithin + 1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		qctx, cancel := context.WithTimeout(ctx, c.set.Timeout)
		m, err := c.query(qctx, server)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !c.record(server, m, err) {
			return
		}
		c.mu.Lock()
		backoff := c.latest[server].backoff
		c.mu.Unlock()
		interval := c.set.Interval * time.Duration(backoff)
		wait = interval - interval/10 + rand.N(interval/5+1)
	}
}

// record stores an outcome, logs a change once, and says whether to go on.
func (c *Checker) record(server string, m Measurement, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.latest[server]
	o.tried, o.m, o.err, o.unfit = true, m, err, nil
	var kiss *KissError
	if errors.As(err, &kiss) && kiss.Stop() {
		c.logger.Warn("cross-check server sent a Kiss-o'-Death: no more queries to it", zap.String("server", server), zap.String("kiss_code", kiss.Code))
		return false
	}
	if errors.As(err, &kiss) && kiss.RateLimited() && o.backoff < maxBackoff {
		o.backoff *= 2
		c.logger.Warn("cross-check server asks for fewer queries (Kiss-o'-Death RATE): slowing down",
			zap.String("server", server), zap.Duration("interval", c.set.Interval*time.Duration(o.backoff)))
	}
	o.log.Observe(err, zap.String("server", server))
	if err == nil {
		o.unfit = m.Unfit(c.set.MaxDistance)
		o.unfitLog.Observe(o.unfit, zap.String("server", server))
		// The server answers: whatever rate it asked for before, it takes
		// ours now. A RATE kiss that comes back doubles the interval again.
		o.backoff = 1
	}
	return true
}

// Results are the servers' latest outcomes, in configuration order; servers
// not yet queried are left out.
func (c *Checker) Results() []Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Result, 0, len(c.set.Servers))
	for _, s := range c.set.Servers {
		o := c.latest[s]
		if !o.tried {
			continue
		}
		out = append(out, Result{Server: s, Up: o.err == nil, M: o.m, Unfit: o.unfit})
	}
	return out
}
