package chronyclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/facebook/time/ntp/chrony"
	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// defaultExchangeTimeout bounds a call whose context has no deadline.
const defaultExchangeTimeout = 10 * time.Second

// noSample is what chronyd sends as the age of a source's last sample while
// it has none.
const noSample = math.MaxUint32

// Client reads chronyd's reports over one kept-open connection. With no
// endpoint configured it finds chronyd the way chronyc does and looks again
// when the one it found stops answering. A Client is not safe for concurrent
// use: a scraper calls it from one goroutine.
type Client struct {
	candidates []transport.Endpoint
	opts       transport.Options
	logger     *zap.Logger

	conn  *transport.Conn
	proto *chrony.Client
	// announced is the endpoint last logged, so a change is logged once.
	announced string

	// names caches sourcename answers by address: a source's configured name
	// does not change while it exists, and asking again costs a round trip.
	names map[string]string

	tracking    *chrony.RequestTracking
	nsources    *chrony.RequestSources
	serverStats *chrony.RequestServerStats

	// Kept between scrapes: the per-source request packets, the batch and
	// the buffers its requests are encoded into.
	dataReqs  []*chrony.RequestSourceData
	statsReqs []*chrony.RequestSourceStats
	reqs      []chrony.RequestPacket
	pending   []transport.Pending
	encoded   []*bytes.Buffer
}

// New makes a client for endpoint, or for chronyc's probe order when endpoint
// is empty. It does not connect: chronyd may start after the collector.
func New(endpoint string, opts transport.Options, logger *zap.Logger) (*Client, error) {
	c := &Client{
		opts:        opts,
		logger:      logger,
		names:       map[string]string{},
		tracking:    chrony.NewTrackingPacket(),
		nsources:    chrony.NewSourcesPacket(),
		serverStats: chrony.NewServerStatsPacket(),
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
	c.conn, c.proto = nil, nil
	return err
}

// exchange sends one request and returns its reply. A failure of a kept-open
// connection closes it and tries once more on a fresh one (chronyd may have
// restarted); an answer from chronyd, even a refusal, keeps it.
func (c *Client) exchange(ctx context.Context, req chrony.RequestPacket) (chrony.ResponsePacket, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultExchangeTimeout)
	}
	if c.conn != nil {
		c.conn.SetDeadline(deadline)
		resp, err := communicate(c.proto, req)
		if err == nil || isAnswer(err) {
			return resp, err
		}
		c.logger.Debug("chronyd connection failed, reconnecting", zap.String("endpoint", c.conn.Endpoint().String()), zap.Error(err))
		_ = c.Close()
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, err
		}
	}
	return c.connect(ctx, deadline, req)
}

// connect tries each candidate endpoint in order with req and keeps the first
// that answers.
func (c *Client) connect(ctx context.Context, deadline time.Time, req chrony.RequestPacket) (chrony.ResponsePacket, error) {
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
		conn.SetDeadline(deadline)
		proto := &chrony.Client{Connection: conn}
		resp, err := communicate(proto, req)
		if err != nil && !isAnswer(err) {
			_ = conn.Close()
			errs = append(errs, err)
			continue
		}
		c.conn, c.proto = conn, proto
		if ep.String() != c.announced {
			c.announced = ep.String()
			c.logger.Info("reading chronyd", zap.String("endpoint", ep.String()))
		}
		return resp, err
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, fmt.Errorf("no chronyd answered at %v: %w", c.candidates, errors.Join(errs...))
}

// communicate is proto.Communicate without facebook/time's "connection.Read
// failed" wrapping: the transport's own errors already name the request, the
// endpoint and the cause.
func communicate(proto *chrony.Client, req chrony.RequestPacket) (chrony.ResponsePacket, error) {
	resp, err := proto.Communicate(req)
	if err != nil {
		for _, prefix := range []string{"connection.Read failed: ", "failed to write packet to connection: "} {
			if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), prefix) {
				return resp, inner
			}
		}
	}
	return resp, err
}

// isAnswer tells a refusal from chronyd (the channel works) from a failure of
// the channel itself.
func isAnswer(err error) bool {
	var se *transport.StatusError
	return errors.As(err, &se)
}

// Tracking asks for the tracking report.
func (c *Client) Tracking(ctx context.Context) (Tracking, error) {
	resp, err := c.exchange(ctx, c.tracking)
	if err != nil {
		return Tracking{}, fmt.Errorf("tracking: %w", err)
	}
	return trackingFrom(resp, time.Now())
}

func trackingFrom(resp chrony.ResponsePacket, at time.Time) (Tracking, error) {
	rt, ok := resp.(*chrony.ReplyTracking)
	if !ok {
		return Tracking{}, fmt.Errorf("tracking: unexpected reply %T", resp)
	}
	return newTracking(&rt.Tracking, at), nil
}

func newTracking(t *chrony.Tracking, at time.Time) Tracking {
	name := ""
	switch {
	case t.IPAddr != nil:
		name = t.IPAddr.String()
	case t.RefID != 0:
		// A refclock reference has no address; chronyc shows its refid as text.
		name = chrony.RefidToString(t.RefID)
	}
	return Tracking{
		RefID:              t.RefID,
		ReferenceName:      name,
		Stratum:            t.Stratum,
		LeapStatus:         t.LeapStatus,
		RefTime:            t.RefTime,
		CurrentCorrection:  t.CurrentCorrection,
		LastOffset:         t.LastOffset,
		RMSOffset:          t.RMSOffset,
		FrequencyPPM:       t.FreqPPM,
		ResidualFreqPPM:    t.ResidFreqPPM,
		SkewPPM:            t.SkewPPM,
		RootDelay:          t.RootDelay,
		RootDispersion:     t.RootDispersion,
		LastUpdateInterval: t.LastUpdateInterval,
		ReceivedAt:         at,
	}
}

// Sources asks for every source's data and, when withStats, its statistics,
// all in one batch. A source that vanishes between the count and the batch is
// skipped.
func (c *Client) Sources(ctx context.Context, withStats bool) ([]Source, error) {
	resp, err := c.exchange(ctx, c.nsources)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	n, err := sourceCountFrom(resp)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	resps, errs, err := c.exchangeBatch(ctx, c.sourceRequests(n, withStats))
	if err != nil {
		return nil, fmt.Errorf("sourcedata and sourcestats of %d sources: %w", n, err)
	}
	sources := make([]Source, 0, n)
	var unnamed []int
	var unnamedIPs []*chrony.IPAddr
	for i := range n {
		if isNoSuchSource(errs[i]) {
			continue
		}
		if errs[i] != nil {
			return sources, fmt.Errorf("sourcedata %d of %d: %w", i, n, errs[i])
		}
		src, ip, err := sourceFrom(resps[i])
		if err != nil {
			return sources, fmt.Errorf("sourcedata %d: %w", i, err)
		}
		if withStats {
			switch j := n + i; {
			case isNoSuchSource(errs[j]):
			case errs[j] != nil:
				return sources, fmt.Errorf("sourcestats %d: %w", i, errs[j])
			default:
				if src.Stats, err = statsFrom(resps[j], ip); err != nil {
					return sources, fmt.Errorf("sourcestats %d: %w", i, err)
				}
			}
		}
		switch name, cached := c.names[src.Address]; {
		case src.Mode == ModeRefclock:
			src.Name = src.Address
		case cached:
			src.Name = name
		default:
			src.Name = src.Address
			unnamed = append(unnamed, len(sources))
			ipCopy := *ip
			unnamedIPs = append(unnamedIPs, &ipCopy)
		}
		sources = append(sources, src)
	}
	if len(unnamed) > 0 {
		c.nameSources(ctx, sources, unnamed, unnamedIPs)
	}
	seen := make(map[string]struct{}, len(sources))
	for i := range sources {
		seen[sources[i].Address] = struct{}{}
	}
	for addr := range c.names {
		if _, ok := seen[addr]; !ok {
			delete(c.names, addr)
		}
	}
	return sources, nil
}

// nameSources asks for the names sources were configured with. chronyd knows
// them without DNS; when it cannot say (older chronyd), the address stands in.
// A name is cached once chronyd answered, so it is asked once per source.
func (c *Client) nameSources(ctx context.Context, sources []Source, idx []int, ips []*chrony.IPAddr) {
	reqs := make([]chrony.RequestPacket, len(ips))
	for i, ip := range ips {
		reqs[i] = chrony.NewNTPSourceNamePacket(ip)
	}
	resps, errs, err := c.exchangeBatch(ctx, reqs)
	if err != nil {
		// The channel failed: keep the addresses and ask again next time.
		return
	}
	for i, k := range idx {
		name := sources[k].Address
		if errs[i] == nil {
			if sn, ok := resps[i].(*chrony.ReplyNTPSourceName); ok && sn.Name != "" {
				name = sn.Name
			}
		} else if !isAnswer(errs[i]) {
			continue
		}
		sources[k].Name = name
		c.names[sources[k].Address] = name
	}
}

// maxSources bounds the count a reply may claim: chronyd itself keeps far
// fewer, and a corrupt count must not make a scrape loop for hours.
const maxSources = 4096

func sourceCountFrom(resp chrony.ResponsePacket) (int, error) {
	rs, ok := resp.(*chrony.ReplySources)
	if !ok {
		return 0, fmt.Errorf("unexpected reply %T", resp)
	}
	if rs.NSources < 0 || rs.NSources > maxSources {
		return 0, fmt.Errorf("chronyd claims %d sources, more than %d", rs.NSources, maxSources)
	}
	return rs.NSources, nil
}

func isNoSuchSource(err error) bool {
	var se *transport.StatusError
	return errors.As(err, &se) && se.Status == statusNoSuchSource
}

const statusNoSuchSource chrony.ResponseStatusType = 4

func sourceFrom(resp chrony.ResponsePacket) (Source, *chrony.IPAddr, error) {
	sd, ok := resp.(*chrony.ReplySourceData)
	if !ok {
		return Source{}, nil, fmt.Errorf("unexpected reply %T", resp)
	}
	return newSource(&sd.SourceData), sd.IPAddr, nil
}

func newSource(d *chrony.SourceData) Source {
	src := Source{
		Address:        sourceAddress(d.IPAddr, d.Mode),
		Mode:           uint16(d.Mode),
		State:          uint16(d.State),
		Stratum:        d.Stratum,
		Poll:           d.Poll,
		Reachability:   d.Reachability,
		SinceSample:    d.SinceSample,
		HasSample:      d.SinceSample != noSample,
		Offset:         d.LatestMeas,
		MeasuredOffset: d.OrigLatestMeas,
		OffsetError:    d.LatestMeasErr,
	}
	return src
}

// sourceAddress names a source as chronyc does: a refclock's address field
// holds its refid, which chronyc prints as text (PHC0, GPS, PPS).
func sourceAddress(ip *chrony.IPAddr, mode chrony.ModeType) string {
	if mode == chrony.SourceModeRef && ip.Family == chrony.IPAddrInet4 {
		return chrony.RefidToString(binary.BigEndian.Uint32(ip.IP[:4]))
	}
	return ip.String()
}

// statsFrom returns the statistics in resp if they are those of the source at
// ip, nil if they belong to another.
func statsFrom(resp chrony.ResponsePacket, ip *chrony.IPAddr) (*SourceStats, error) {
	ss, ok := resp.(*chrony.ReplySourceStats)
	if !ok {
		return nil, fmt.Errorf("unexpected reply %T", resp)
	}
	// The source list can change between two requests; statistics of another
	// source must not be filed under this one.
	if !sameSource(ss, ip) {
		return nil, nil
	}
	return &SourceStats{
		Samples:         ss.NSamples,
		Runs:            ss.NRuns,
		SpanSeconds:     ss.SpanSeconds,
		StdDev:          ss.StandardDeviation,
		ResidualFreqPPM: ss.ResidFreqPPM,
		SkewPPM:         ss.SkewPPM,
		Offset:          ss.EstimatedOffset,
		OffsetError:     ss.EstimatedOffsetErr,
	}, nil
}

// sameSource tells whether statistics belong to the source whose sourcedata
// address is ip. For a refclock chronyd leaves the statistics' address
// unspecified and gives the refid, which sourcedata carries as an IPv4 address.
func sameSource(ss *chrony.ReplySourceStats, ip *chrony.IPAddr) bool {
	if ss.IPAddr.Family == chrony.IPAddrUnspec {
		return ip.Family == chrony.IPAddrInet4 && binary.BigEndian.Uint32(ip.IP[:4]) == ss.RefID
	}
	return *ss.IPAddr == *ip
}

// ServerStats asks for the server statistics; chronyd serves them only over
// the unix socket.
func (c *Client) ServerStats(ctx context.Context) (ServerStats, error) {
	resp, err := c.exchange(ctx, c.serverStats)
	if err != nil {
		return ServerStats{}, fmt.Errorf("serverstats: %w", err)
	}
	return serverStatsFrom(resp, time.Now())
}

func serverStatsFrom(resp chrony.ResponsePacket, now time.Time) (ServerStats, error) {
	switch r := resp.(type) {
	case *chrony.ReplyServerStats:
		s := r.ServerStats
		return ServerStats{NTPHits: uint64(s.NTPHits), NTPDrops: uint64(s.NTPDrops), CmdHits: uint64(s.CMDHits), CmdDrops: uint64(s.CMDDrops), LogDrops: uint64(s.LogDrops), ReceivedAt: now}, nil
	case *chrony.ReplyServerStats2:
		s := r.ServerStats2
		return ServerStats{NTPHits: uint64(s.NTPHits), NTPDrops: uint64(s.NTPDrops), CmdHits: uint64(s.CMDHits), CmdDrops: uint64(s.CMDDrops), LogDrops: uint64(s.LogDrops),
			NKEHits: uint64(s.NKEHits), NKEDrops: uint64(s.NKEDrops), NTPAuthHits: uint64(s.NTPAuthHits), HasNKE: true, HasAuth: true, ReceivedAt: now}, nil
	case *chrony.ReplyServerStats3:
		s := r.ServerStats3
		return ServerStats{NTPHits: uint64(s.NTPHits), NTPDrops: uint64(s.NTPDrops), CmdHits: uint64(s.CMDHits), CmdDrops: uint64(s.CMDDrops), LogDrops: uint64(s.LogDrops),
			NKEHits: uint64(s.NKEHits), NKEDrops: uint64(s.NKEDrops), NTPAuthHits: uint64(s.NTPAuthHits), NTPInterleavedHits: uint64(s.NTPInterleavedHits),
			HasNKE: true, HasAuth: true, HasInterleaved: true, ReceivedAt: now}, nil
	case *chrony.ReplyServerStats4:
		s := r.ServerStats4
		return ServerStats{NTPHits: s.NTPHits, NTPDrops: s.NTPDrops, CmdHits: s.CMDHits, CmdDrops: s.CMDDrops, LogDrops: s.LogDrops,
			NKEHits: s.NKEHits, NKEDrops: s.NKEDrops, NTPAuthHits: s.NTPAuthHits, NTPInterleavedHits: s.NTPInterleavedHits,
			HasNKE: true, HasAuth: true, HasInterleaved: true, ReceivedAt: now}, nil
	default:
		return ServerStats{}, fmt.Errorf("serverstats: unexpected reply %T", resp)
	}
}
