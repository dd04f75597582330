package crosscheck

import (
	"strings"
	"testing"
	"time"

	"github.com/facebook/time/ntp/protocol"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chronyotel/otelcol-chrony/internal/testkit/ntpserver"
)

func startChecker(t *testing.T, servers ...string) (*Checker, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	c := New(Settings{Servers: servers, Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond, MaxDistance: DefaultMaxDistance}, zap.New(core))
	c.firstWithin = 0
	c.Start()
	t.Cleanup(c.Shutdown)
	return c, logs
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Each server has its own outcome; a dead one is down and logged once, a
// live one is up with its measurement.
func TestCheckerOutcomes(t *testing.T) {
	live := startServer(t, 5*time.Millisecond, 0, 0)
	dead := startServer(t, 0, 0, 0)
	dead.Spoil(func([]byte) []byte { return []byte{0} })
	c, logs := startChecker(t, live.Addr(), dead.Addr())
	waitUntil(t, "five queries to the dead server", func() bool { return dead.Requests() >= 5 })
	results := c.Results()
	if len(results) != 2 || results[0].Server != live.Addr() || results[1].Server != dead.Addr() {
		t.Fatalf("results %+v", results)
	}
	if !results[0].Up || results[0].M.Offset < 0.004 || results[0].M.Offset > 0.006 {
		t.Errorf("live server: %+v", results[0])
	}
	if results[1].Up {
		t.Errorf("dead server up: %+v", results[1])
	}
	if n := logs.FilterMessage("cross-check failed; ntp.cross_check.up is 0 until it succeeds").Len(); n != 1 {
		t.Errorf("the dead server was logged %d times over %d queries, want once", n, dead.Requests())
	}
}

// DENY and RSTR stop the queries to that server, said once; RATE slows them.
func TestCheckerKissOfDeath(t *testing.T) {
	deny := startServer(t, 0, 0, 0)
	deny.Spoil(spoiled(kiss("DENY")))
	rate := startServer(t, 0, 0, 0)
	rate.Spoil(spoiled(kiss("RATE")))
	c, logs := startChecker(t, deny.Addr(), rate.Addr())
	waitUntil(t, "the RATE server to be asked twice", func() bool { return rate.Requests() >= 2 })
	time.Sleep(300 * time.Millisecond)
	if n := deny.Requests(); n != 1 {
		t.Errorf("the DENY server was asked %d times, want once", n)
	}
	if n := logs.FilterMessage("cross-check server sent a Kiss-o'-Death: no more queries to it").Len(); n != 1 {
		t.Errorf("DENY logged %d times", n)
	}
	// 50 ms doubled per RATE: far fewer queries than at 50 ms in 300+ ms.
	if n := rate.Requests(); n > 5 {
		t.Errorf("the RATE server was asked %d times; it asked us to slow down", n)
	}
	for _, r := range c.Results() {
		if r.Up {
			t.Errorf("%s up after a Kiss-o'-Death", r.Server)
		}
	}
}

// A RATE kiss stretches the server's interval only until it answers again:
// one good reply brings the configured interval back.
func TestCheckerRateBackoffEndsWithAnAnswer(t *testing.T) {
	srv := startServer(t, 0, 0, 0)
	const kisses = 2
	srv.Spoil(func(reply []byte) []byte {
		if srv.Requests() <= kisses {
			return spoiled(kiss("RATE"))(reply)
		}
		return reply
	})
	c, _ := startChecker(t, srv.Addr())
	backoff := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.latest[srv.Addr()].backoff
	}
	waitUntil(t, "the kisses", func() bool { return srv.Requests() >= kisses })
	waitUntil(t, "an answer after the kisses", func() bool {
		r := c.Results()
		return len(r) == 1 && r[0].Up
	})
	if got := backoff(); got != 1 {
		t.Errorf("after %d RATE kisses and an answer the interval is still %d times the configured one", kisses, got)
	}
}

// A server whose replies are unfit is up, with the reason its replies cannot
// bound the clock; the reason is logged once however many replies repeat it,
// and its end once.
func TestCheckerUnfitReplies(t *testing.T) {
	encode := func(p *protocol.Packet) []byte { b, _ := p.Bytes(); return b }
	reversed := startServer(t, 0, 0, 0)
	reversed.Spoil(spoiled(func(p *protocol.Packet) []byte {
		now := time.Now()
		p.RxTimeSec, p.RxTimeFrac = protocol.Time(now.Add(1000 * time.Second))
		p.TxTimeSec, p.TxTimeFrac = protocol.Time(now.Add(-1000 * time.Second))
		return encode(p)
	}))
	dispersed := startServer(t, 5000*time.Second, 0, 0)
	dispersed.Spoil(spoiled(func(p *protocol.Packet) []byte { p.RootDispersion = 10000 << 16; return encode(p) }))
	delayed := startServer(t, 3000*time.Second, 0, 0)
	delayed.Spoil(spoiled(func(p *protocol.Packet) []byte { p.RootDelay = 7000 << 16; return encode(p) }))
	fit := startServer(t, 0, 0, 0)
	servers := []*ntpserver.Server{reversed, dispersed, delayed, fit}
	wantUnfit := []string{
		"transmit time is 2000.",
		"root distance (delay + root delay)/2 + root dispersion = 10000.",
		"root distance (delay + root delay)/2 + root dispersion = 3500.",
		"",
	}
	c, logs := startChecker(t, reversed.Addr(), dispersed.Addr(), delayed.Addr(), fit.Addr())
	waitUntil(t, "three replies from every server", func() bool {
		for _, s := range servers {
			if s.Requests() < 4 {
				return false
			}
		}
		return true
	})
	for i, r := range c.Results() {
		if !r.Up {
			t.Errorf("%s: down; it answers", r.Server)
		}
		switch {
		case wantUnfit[i] == "" && r.Unfit != nil:
			t.Errorf("%s: unfit (%v), want fit", r.Server, r.Unfit)
		case wantUnfit[i] != "" && (r.Unfit == nil || !strings.Contains(r.Unfit.Error(), wantUnfit[i])):
			t.Errorf("%s: unfit %v, want a reason with %q", r.Server, r.Unfit, wantUnfit[i])
		}
	}
	const unfitMsg = "cross-check reply unfit to bound the clock; the server's offset, delay, error bound and consistency are not sent until a reply is fit"
	if n := logs.FilterMessage(unfitMsg).Len(); n != 3 {
		t.Errorf("%d unfit warnings for 3 unfit servers over at least 3 replies each, want one each: %v", n, logs.FilterMessage(unfitMsg).All())
	}

	// Its dispersion back to 1 ms, the server 5000 s ahead is fit again: its
	// offset is then measured, and found inconsistent with any sane bound.
	dispersed.Spoil(nil)
	waitUntil(t, "a fit reply from the dispersed server", func() bool { return c.Results()[1].Unfit == nil })
	asked := dispersed.Requests()
	waitUntil(t, "two more replies", func() bool { return dispersed.Requests() >= asked+2 })
	if n := logs.FilterMessage("cross-check replies are fit again").Len(); n != 1 {
		t.Errorf("fit again logged %d times, want once", n)
	}
	if n := logs.FilterMessage(unfitMsg).Len(); n != 3 {
		t.Errorf("%d unfit warnings after one server became fit, want still 3", n)
	}
}
