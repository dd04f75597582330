package transport

import (
	"encoding/binary"
	"fmt"
)

// Pending is one request of a batch and, after Batch, its reply or error.
type Pending struct {
	// Req is the encoded request, with a sequence number no other request of
	// the batch has.
	Req   []byte
	Reply []byte
	Err   error
}

// Batch sends every request at once and collects the replies in whatever
// order chronyd sends them, matching each to its request by sequence number.
// A scrape then waits for chronyd once instead of once per request. A reply
// that is not success is that request's Err; the returned error is for the
// channel itself (the deadline passed, the socket failed). Over UDP the
// requests still unanswered are sent again, as a single request would be.
func (c *Conn) Batch(items []Pending) error {
	if len(items) == 0 {
		return nil
	}
	bySeq := make(map[uint32]int, len(items))
	answered := make([]bool, len(items))
	for i := range items {
		if len(items[i].Req) < requestHeaderLen {
			return fmt.Errorf("request of %d bytes is shorter than a chrony header", len(items[i].Req))
		}
		seq := binary.BigEndian.Uint32(items[i].Req[8:12])
		if _, dup := bySeq[seq]; dup {
			return fmt.Errorf("two requests of one batch share sequence number %d", seq)
		}
		bySeq[seq] = i
		items[i].Reply, items[i].Err = items[i].Reply[:0], nil
	}
	sendUnanswered := func() error {
		for i := range items {
			if answered[i] {
				continue
			}
			c.req = append(c.req[:0], items[i].Req...)
			c.reqCmd = binary.BigEndian.Uint16(items[i].Req[4:6])
			if err := c.send(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := sendUnanswered(); err != nil {
		return err
	}
	remaining, tries := len(items), 1
	wait := c.retry
	for remaining > 0 {
		n, err := c.readPacket(c.readBy(wait))
		if err != nil {
			if c.shouldResend(err) {
				wait *= 2
				tries++
				if err := sendUnanswered(); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("read replies to %d of %d requests from chronyd at %s after %d tries: %w", remaining, len(items), c.ep, tries, err)
		}
		b := c.buf[:n]
		if len(b) < replyHeaderLen {
			return fmt.Errorf("reply from chronyd at %s: truncated reply: %d bytes, a header alone is %d", c.ep, len(b), replyHeaderLen)
		}
		i, ok := bySeq[binary.BigEndian.Uint32(b[16:20])]
		if !ok || answered[i] {
			// An earlier request's reply, or a duplicate after a retry.
			c.Stale++
			continue
		}
		cmd, seq := binary.BigEndian.Uint16(items[i].Req[4:6]), binary.BigEndian.Uint32(items[i].Req[8:12])
		if err := CheckReply(b, cmd, seq); err != nil {
			items[i].Err = fmt.Errorf("%s reply from chronyd at %s: %w", commandName(cmd), c.ep, err)
		} else {
			items[i].Reply = append(items[i].Reply[:0], b...)
		}
		answered[i] = true
		remaining--
	}
	return nil
}
