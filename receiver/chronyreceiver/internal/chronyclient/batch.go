package chronyclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/facebook/time/ntp/chrony"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// exchangeBatch sends reqs together on the open connection and returns each
// one's reply or error; the error returned last is for the channel. Without
// an open connection it goes request by request, which also finds chronyd.
func (c *Client) exchangeBatch(ctx context.Context, reqs []chrony.RequestPacket) ([]chrony.ResponsePacket, []error, error) {
	resps := make([]chrony.ResponsePacket, len(reqs))
	errs := make([]error, len(reqs))
	if c.conn == nil {
		for i, req := range reqs {
			resp, err := c.exchange(ctx, req)
			if err != nil && !isAnswer(err) {
				return resps, errs, err
			}
			resps[i], errs[i] = resp, err
		}
		return resps, errs, nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultExchangeTimeout)
	}
	c.conn.SetDeadline(deadline)
	// Sequence numbers come from the same counter as single requests', so a
	// late reply to any earlier request never matches one of these.
	n := uint32(len(reqs))
	first := atomic.AddUint32(&c.proto.Sequence, n) - n + 1
	for len(c.encoded) < len(reqs) {
		c.encoded = append(c.encoded, new(bytes.Buffer))
	}
	items := c.pending[:0]
	for i, req := range reqs {
		req.SetSequence(first + uint32(i))
		buf := c.encoded[i]
		buf.Reset()
		if err := binary.Write(buf, binary.BigEndian, req); err != nil {
			return resps, errs, fmt.Errorf("encode %T: %w", req, err)
		}
		items = append(items, transport.Pending{Req: buf.Bytes()})
	}
	c.pending = items
	if err := c.conn.Batch(items); err != nil {
		_ = c.Close()
		return resps, errs, err
	}
	for i := range items {
		if items[i].Err != nil {
			errs[i] = items[i].Err
			continue
		}
		resps[i], errs[i] = decodeReply(reqs[i], items[i].Reply)
	}
	return resps, errs, nil
}

// decodeReply decodes a reply that transport already checked, with the
// decoder facebook/time's Client uses (it only exposes it that way).
func decodeReply(req chrony.RequestPacket, reply []byte) (chrony.ResponsePacket, error) {
	return (&chrony.Client{Connection: &replyConn{reply: reply}}).Communicate(req)
}

type replyConn struct{ reply []byte }

func (r *replyConn) Write(p []byte) (int, error) { return len(p), nil }
func (r *replyConn) Read(p []byte) (int, error)  { return copy(p, r.reply), nil }

// sourceRequests returns sourcedata requests for indexes 0..n-1 followed, when
// withStats, by sourcestats requests for the same indexes. The packets are
// kept for the next scrape.
func (c *Client) sourceRequests(n int, withStats bool) []chrony.RequestPacket {
	for len(c.dataReqs) < n {
		c.dataReqs = append(c.dataReqs, chrony.NewSourceDataPacket(int32(len(c.dataReqs))))
	}
	for withStats && len(c.statsReqs) < n {
		c.statsReqs = append(c.statsReqs, chrony.NewSourceStatsPacket(int32(len(c.statsReqs))))
	}
	reqs := c.reqs[:0]
	for i := range n {
		reqs = append(reqs, c.dataReqs[i])
	}
	if withStats {
		for i := range n {
			reqs = append(reqs, c.statsReqs[i])
		}
	}
	c.reqs = reqs
	return reqs
}
