package chronyclient

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// defaultExchangeTimeout bounds a call whose context has no deadline.
const defaultExchangeTimeout = 10 * time.Second

// noSample is what chronyd sends as the age of a source's last sample while
// it has none.
const noSample = 0xffffffff

// maxSources bounds the count a reply may claim: chronyd itself keeps far
// fewer, and a corrupt count must not make a scrape loop for hours.
const maxSources = 4096

// Client reads chronyd's reports over one kept-open connection. With no
// endpoint configured it finds chronyd the way chronyc does and looks again
// when the one it found stops answering. A Client is not safe for concurrent
// use: a scraper calls it from one goroutine.
type Client struct {
	candidates []transport.Endpoint
	opts       transport.Options
	logger     *zap.Logger

	conn *transport.Conn
	// announced is the endpoint last logged, so a change is logged once.
	announced string
	// seq is the last sequence number used. It starts at a random value, so
	// a reply forged ahead of time cannot guess which request it must answer.
	seq uint32

	// names caches sourcename answers by address: a source's configured name
	// does not change while it exists, and asking again costs a round trip.
	names map[string]string

	// Encoded requests, kept between scrapes; only their sequence numbers
	// change.
	tracking, sourceCount, serverStats []byte
	sourceData, sourceStats            [][]byte
	pending                            []transport.Pending
	reqs                               [][]byte
}

// New makes a client for endpoint, or for chronyc's probe order when endpoint
// is empty. It does not connect: chronyd may start after the collector.
func New(endpoint string, opts transport.Options, logger *zap.Logger) (*Client, error) {
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c := &Client{
		opts:        opts,
		logger:      logger,
		names:       map[string]string{},
		seq:         binary.BigEndian.Uint32(seed[:]),
		tracking:    trackingRequest(),
		sourceCount: sourceCountRequest(),
		serverStats: serverStatsRequest(),
	}
	if endpoint == "" {
		c.candidates = transport.ProbeOrder()
		return c, nil
	}
	ep, err := transport.ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	c.candidates = []transport.Endpoint{ep}
	return c, nil
}

// Endpoint is the endpoint in use, or the configured one before the first
// successful exchange, or empty while probing has found nothing.
func (c *Client) Endpoint() string {
	if c.conn != nil {
		return c.conn.Endpoint().String()
	}
	if len(c.candidates) == 1 {
		return c.candidates[0].String()
	}
	return ""
}

// Close closes the connection and removes its reply socket.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// exchange sends reqs and returns each one's reply, or in its Pending.Err
// chronyd's refusal of it. A failure of a kept-open connection closes it and tries once
// more on a fresh one (chronyd may have restarted); without a connection it
// tries each candidate endpoint and keeps the first that answers.
func (c *Client) exchange(ctx context.Context, reqs ...[]byte) ([]transport.Pending, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultExchangeTimeout)
		defer cancel()
	}
	items := c.pending[:0]
	for _, req := range reqs {
		c.seq++
		transport.SetRequestSequence(req, c.seq)
		items = append(items, transport.Pending{Req: req})
	}
	c.pending = items
	if c.conn != nil {
		err := c.conn.Exchange(ctx, items)
		if err == nil {
			return items, nil
		}
		c.logger.Debug("chronyd connection failed, reconnecting", zap.String("endpoint", c.conn.Endpoint().String()), zap.Error(err))
		_ = c.Close()
		if ctx.Err() != nil {
			return nil, err
		}
	}
	var errs []error
	for _, ep := range c.candidates {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		conn, err := transport.Dial(ep, c.opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := conn.Exchange(ctx, items); err != nil {
			_ = conn.Close()
			errs = append(errs, err)
			continue
		}
		c.conn = conn
		if ep.String() != c.announced {
			c.announced = ep.String()
			c.logger.Info("reading chronyd", zap.String("endpoint", ep.String()))
		}
		return items, nil
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, fmt.Errorf("no chronyd answered at %v: %w", c.candidates, errors.Join(errs...))
}

// exchangeOne is an exchange of one request whose refusal is an error too.
func (c *Client) exchangeOne(ctx context.Context, req []byte) ([]byte, error) {
	items, err := c.exchange(ctx, req)
	if err != nil {
		return nil, err
	}
	return items[0].Reply, items[0].Err
}

// Tracking asks for the tracking report.
func (c *Client) Tracking(ctx context.Context) (Tracking, error) {
	reply, err := c.exchangeOne(ctx, c.tracking)
	if err != nil {
		return Tracking{}, fmt.Errorf("tracking: %w", err)
	}
	t, err := decodeTracking(reply, time.Now())
	if err == nil {
		err = t.check()
	}
	if err != nil {
		return Tracking{}, fmt.Errorf("tracking reply from chronyd at %s: %w", c.Endpoint(), err)
	}
	return t, nil
}

// Sources asks for every source's data and, when withStats, its statistics,
// all in one exchange. A source that vanishes between the count and the
// exchange is skipped.
func (c *Client) Sources(ctx context.Context, withStats bool) ([]Source, error) {
	n, err := c.countSources(ctx)
	if err != nil {
		return nil, err
	}
	items, err := c.exchange(ctx, c.sourceRequests(n, withStats)...)
	if err != nil {
		return nil, fmt.Errorf("sourcedata and sourcestats of %d sources: %w", n, err)
	}
	sources := make([]Source, 0, n)
	var unnamed []int
	var unnamedIPs []ipAddr
	for i := range n {
		src, ip, present, err := c.decodeSource(items, i, n, withStats)
		if err != nil {
			// The sources before it are good data all the same.
			return sources, err
		}
		if !present {
			continue
		}
		if !c.nameFromCache(&src) {
			unnamed = append(unnamed, len(sources))
			unnamedIPs = append(unnamedIPs, ip)
		}
		sources = append(sources, src)
	}
	if len(unnamed) > 0 {
		c.nameSources(ctx, sources, unnamed, unnamedIPs)
	}
	c.forgetNamesOfGone(sources)
	return sources, nil
}

// countSources asks how many sources chronyd has, which is how many
// sourcedata requests to send.
func (c *Client) countSources(ctx context.Context) (int, error) {
	reply, err := c.exchangeOne(ctx, c.sourceCount)
	if err != nil {
		return 0, fmt.Errorf("sources: %w", err)
	}
	n, err := decodeSourceCount(reply)
	if err != nil {
		return 0, fmt.Errorf("sources reply from chronyd at %s: %w", c.Endpoint(), err)
	}
	return n, nil
}

// decodeSource decodes source i of n from the replies of a Sources exchange:
// its sourcedata at items[i] and, when withStats, its sourcestats at
// items[n+i]. present is false for a source chronyd no longer has.
func (c *Client) decodeSource(items []transport.Pending, i, n int, withStats bool) (src Source, ip ipAddr, present bool, err error) {
	if transport.RefusedWith(items[i].Err, transport.StatusNoSuchSource) {
		return Source{}, ipAddr{}, false, nil
	}
	if items[i].Err != nil {
		return Source{}, ipAddr{}, false, fmt.Errorf("sourcedata %d of %d: %w", i, n, items[i].Err)
	}
	src, ip, err = decodeSourceData(items[i].Reply)
	if err == nil {
		err = src.check()
	}
	if err != nil {
		return Source{}, ipAddr{}, false, fmt.Errorf("sourcedata %d reply from chronyd at %s: %w", i, c.Endpoint(), err)
	}
	if !withStats {
		return src, ip, true, nil
	}
	// Statistics that are gone while the data was there leave the source
	// without them.
	switch st := items[n+i]; {
	case transport.RefusedWith(st.Err, transport.StatusNoSuchSource):
	case st.Err != nil:
		return Source{}, ipAddr{}, false, fmt.Errorf("sourcestats %d: %w", i, st.Err)
	default:
		if src.Stats, err = sourceStatsFor(st.Reply, ip); err != nil {
			return Source{}, ipAddr{}, false, fmt.Errorf("sourcestats %d reply from chronyd at %s: %w", i, c.Endpoint(), err)
		}
	}
	return src, ip, true, nil
}

// nameFromCache names src without asking chronyd when it can: a reference
// clock by its refid, as chronyc does, an NTP source by the name cached for
// its address. Otherwise the address stands in and it reports false.
func (c *Client) nameFromCache(src *Source) bool {
	if src.Mode == ModeRefclock {
		src.Name = src.Address
		return true
	}
	if name, cached := c.names[src.Address]; cached {
		src.Name = name
		return true
	}
	src.Name = src.Address
	return false
}

// forgetNamesOfGone drops the cached names of sources chronyd no longer has:
// one re-added at the same address may have been configured with another
// name, and the cache must not grow with every source ever seen.
func (c *Client) forgetNamesOfGone(sources []Source) {
	seen := make(map[string]struct{}, len(sources))
	for i := range sources {
		seen[sources[i].Address] = struct{}{}
	}
	for addr := range c.names {
		if _, ok := seen[addr]; !ok {
			delete(c.names, addr)
		}
	}
}

// nameSources asks for the names sources were configured with. chronyd knows
// them without DNS; when it cannot say (older chronyd), the address stands in.
// A name is cached once chronyd answered, so it is asked once per source.
func (c *Client) nameSources(ctx context.Context, sources []Source, idx []int, ips []ipAddr) {
	reqs := make([][]byte, len(ips))
	for i, ip := range ips {
		reqs[i] = sourceNameRequest(ip)
	}
	items, err := c.exchange(ctx, reqs...)
	if err != nil {
		// The channel failed: keep the addresses and ask again next time.
		return
	}
	for i, k := range idx {
		name := sources[k].Address
		if items[i].Err == nil {
			if sn, err := decodeSourceName(items[i].Reply); err == nil && sn != "" {
				name = sn
			}
		}
		sources[k].Name = name
		c.names[sources[k].Address] = name
	}
}

// sourceRequests returns sourcedata requests for indexes 0..n-1 followed, when
// withStats, by sourcestats requests for the same indexes. The encoded
// packets are kept for the next scrape.
func (c *Client) sourceRequests(n int, withStats bool) [][]byte {
	for len(c.sourceData) < n {
		c.sourceData = append(c.sourceData, sourceDataRequest(len(c.sourceData)))
	}
	for withStats && len(c.sourceStats) < n {
		c.sourceStats = append(c.sourceStats, sourceStatsRequest(len(c.sourceStats)))
	}
	c.reqs = append(c.reqs[:0], c.sourceData[:n]...)
	if withStats {
		c.reqs = append(c.reqs, c.sourceStats[:n]...)
	}
	return c.reqs
}

// ServerStats asks for the server statistics; chronyd serves them only over
// the unix socket.
func (c *Client) ServerStats(ctx context.Context) (ServerStats, error) {
	reply, err := c.exchangeOne(ctx, c.serverStats)
	if err != nil {
		return ServerStats{}, fmt.Errorf("serverstats: %w", err)
	}
	s, err := decodeServerStats(reply, time.Now())
	if err != nil {
		return ServerStats{}, fmt.Errorf("serverstats reply from chronyd at %s: %w", c.Endpoint(), err)
	}
	return s, nil
}
