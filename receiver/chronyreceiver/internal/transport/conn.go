package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Options tune a connection; the zero value is what chronyc does.
type Options struct {
	// ReplyDir is where the unix reply socket is bound. chronyd can only answer
	// into a directory it can reach, so the default is the directory of its own
	// socket, as chronyc does.
	ReplyDir string
	// RetryInterval is how long to wait for a reply before sending the
	// unanswered requests again; it doubles after each try, as in chronyc.
	// Zero means 1s.
	RetryInterval time.Duration
}

// Conn is one open command channel to chronyd. It is not safe for concurrent
// use.
type Conn struct {
	ep       Endpoint
	sock     socket
	isUnix   bool
	replyDir string
	reply    *replySocket
	retry    time.Duration

	buf   [maxPacket]byte
	bySeq map[uint32]int
	items []itemState
}

// socket is what Exchange needs of a *net.UDPConn or *net.UnixConn.
type socket interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// Dial opens a channel to chronyd. For the unix socket it binds a uniquely
// named reply socket, which Close removes.
func Dial(ep Endpoint, opts Options) (*Conn, error) {
	c := &Conn{ep: ep, retry: opts.RetryInterval, bySeq: map[uint32]int{}}
	if c.retry <= 0 {
		c.retry = time.Second
	}
	switch ep.Network {
	case UDP:
		raddr, err := net.ResolveUDPAddr("udp", ep.Address)
		if err != nil {
			return nil, fmt.Errorf("resolve chronyd address %s: %w", ep, err)
		}
		// Connected, the kernel drops datagrams from any other address.
		conn, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			return nil, fmt.Errorf("dial chronyd at %s: %w", ep, err)
		}
		c.sock = conn
	case Unix:
		dir := opts.ReplyDir
		if dir == "" {
			dir = defaultReplyDir(ep)
		}
		rs, conn, err := dialUnix(ep, dir)
		if err != nil {
			return nil, err
		}
		c.sock, c.reply, c.isUnix, c.replyDir = conn, rs, true, dir
	default:
		return nil, fmt.Errorf("dial chronyd at %s: unsupported network %q", ep, ep.Network)
	}
	return c, nil
}

// Endpoint is where this connection goes.
func (c *Conn) Endpoint() Endpoint { return c.ep }

// Close closes the socket and removes the reply socket file this connection
// created; it never removes a file that is not its own.
func (c *Conn) Close() error {
	if c.sock == nil {
		return nil
	}
	err := c.sock.Close()
	c.sock = nil
	if c.reply != nil {
		err = errors.Join(err, c.reply.remove())
	}
	return err
}

// Pending is one request of an exchange and, after it, its reply or refusal.
type Pending struct {
	// Req is the encoded request, with a sequence number no other request of
	// the exchange has.
	Req []byte
	// Reply is the checked reply, header included; its capacity is reused.
	Reply []byte
	// Err is chronyd's refusal of this request (a *StatusError).
	Err error
}

// maxInFlight bounds the requests sent and not yet answered. Linux queues at
// most net.unix.max_dgram_qlen (default 10) datagrams on a unix socket and
// chronyd drops a reply it cannot queue, so a window larger than that loses
// replies whenever chronyd answers faster than we read.
const maxInFlight = 8

type itemState struct {
	sent, answered bool
}

// exchangeStats is what a failed exchange tells the user about the datagrams
// it threw away.
type exchangeStats struct {
	received    int
	stale       int
	invalid     int
	lastInvalid error
}

// Exchange sends every request and collects the replies in whatever order
// chronyd sends them, matching each to its request by sequence number, with
// at most maxInFlight unanswered at a time. A single request is an exchange
// of one. Requests still unanswered after the retry interval are sent again,
// over UDP and the unix socket alike. Datagrams that answer nothing in flight
// are dropped, as chronyc drops them. A refusal is that request's Err; the
// returned error is for the channel itself. ctx bounds every read and write.
func (c *Conn) Exchange(ctx context.Context, items []Pending) error {
	if len(items) == 0 {
		return nil
	}
	if c.sock == nil {
		return fmt.Errorf("exchange with chronyd at %s: connection closed", c.ep)
	}
	clear(c.bySeq)
	c.items = c.items[:0]
	for i := range items {
		if len(items[i].Req) < requestHeaderLen {
			return fmt.Errorf("request of %d bytes is shorter than a chrony header", len(items[i].Req))
		}
		seq := RequestSequence(items[i].Req)
		if _, dup := c.bySeq[seq]; dup {
			return fmt.Errorf("two requests of one exchange share sequence number %d", seq)
		}
		c.bySeq[seq] = i
		c.items = append(c.items, itemState{})
		items[i].Reply, items[i].Err = items[i].Reply[:0], nil
	}
	if err := ctx.Err(); err != nil {
		return c.stopped(items, err)
	}
	deadline, _ := ctx.Deadline()
	// A cancelled context interrupts a blocked read or write at once. If the
	// interruption has started by the time the exchange ends, wait for it, so
	// that it cannot land on the next exchange over this connection.
	sock, interrupted := c.sock, make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		_ = sock.SetDeadline(time.Unix(1, 0))
	})
	defer func() {
		if !stop() {
			<-interrupted
		}
	}()
	// A chronyd that stopped reading fills its queue and then every write
	// blocks: the deadline is what turns that into an error.
	if err := c.sock.SetWriteDeadline(deadline); err != nil {
		return err
	}

	var st exchangeStats
	next, inFlight, remaining, tries := 0, 0, len(items), 1
	wait := c.retry
	lastProgress := time.Now()
	for remaining > 0 {
		for inFlight < maxInFlight && next < len(items) {
			if err := c.send(items[next].Req); err != nil {
				return c.sendError(ctx, items, items[next].Req, err)
			}
			c.items[next].sent = true
			next++
			inFlight++
		}
		by := lastProgress.Add(wait)
		if !deadline.IsZero() && deadline.Before(by) {
			by = deadline
		}
		if err := c.sock.SetReadDeadline(by); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return c.stopped(items, err)
		}
		n, err := c.sock.Read(c.buf[:])
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
				return c.stopped(items, ctxErr)
			}
			if isTimeout(err) && (deadline.IsZero() || time.Now().Before(deadline)) {
				wait *= 2
				tries++
				lastProgress = time.Now()
				for i := range next {
					if c.items[i].answered {
						continue
					}
					if err := c.send(items[i].Req); err != nil {
						return c.sendError(ctx, items, items[i].Req, err)
					}
				}
				continue
			}
			return c.waitError(items, remaining, tries, st, err)
		}
		st.received++
		b := c.buf[:n]
		if err := checkReplyHeader(b); err != nil {
			st.invalid++
			st.lastInvalid = err
			continue
		}
		i, ok := c.bySeq[replySequence(b)]
		if !ok || !c.items[i].sent || c.items[i].answered {
			// A reply to an earlier request, or a duplicate after a resend.
			st.stale++
			continue
		}
		req := items[i].Req
		err = checkAnswer(b, RequestCommand(req))
		if err != nil && !isRefusal(err) {
			st.invalid++
			st.lastInvalid = fmt.Errorf("%s reply: %w", CommandName(RequestCommand(req)), err)
			continue
		}
		c.items[i].answered = true
		remaining--
		inFlight--
		lastProgress = time.Now()
		if err != nil {
			items[i].Err = fmt.Errorf("%s request to chronyd at %s: %w", CommandName(RequestCommand(req)), c.ep, err)
		} else {
			items[i].Reply = append(items[i].Reply, b...)
		}
	}
	return nil
}

func (c *Conn) send(req []byte) error {
	_, err := c.sock.Write(req)
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// what names the requests of an exchange for an error message.
func what(items []Pending) string {
	if len(items) == 1 {
		return commands(items)
	}
	return fmt.Sprintf("%d %s", len(items), commands(items))
}

// commands names the commands of an exchange without counting them, for a
// reason that must not change with the number of sources.
func commands(items []Pending) string {
	seen := map[uint16]bool{}
	var names []string
	for _, it := range items {
		if cmd := RequestCommand(it.Req); !seen[cmd] {
			seen[cmd] = true
			names = append(names, CommandName(cmd))
		}
	}
	return strings.Join(names, " and ")
}

func (c *Conn) stopped(items []Pending, err error) error {
	return fmt.Errorf("exchange of %s requests with chronyd at %s stopped: %w", what(items), c.ep, err)
}

func (c *Conn) sendError(ctx context.Context, items []Pending, req []byte, err error) error {
	cmd := CommandName(RequestCommand(req))
	switch {
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("send %s request to chronyd at %s: stopped: %w", cmd, c.ep, ctx.Err())
	case isTimeout(err) && c.isUnix:
		// The same cause as silence: a wedged chronyd first leaves requests
		// unanswered, then, its queue full, unread.
		return withReason(c.noAnswer(items),
			fmt.Errorf("send %s request to chronyd at %s: chronyd is not reading its socket (queue full; is it stopped or hung?): %w", cmd, c.ep, err))
	case errors.Is(err, syscall.ECONNREFUSED):
		return withReason(fmt.Sprintf("send %s requests to chronyd at %s: nothing listens there any more", commands(items), c.ep),
			fmt.Errorf("send %s request to chronyd at %s: nothing listens there any more (chronyd stopped or restarted): %w", cmd, c.ep, err))
	}
	return withReason(fmt.Sprintf("send %s requests to chronyd at %s: %s", commands(items), c.ep, withoutAddresses(err)),
		fmt.Errorf("send %s request to chronyd at %s: %w", cmd, c.ep, err))
}

// noAnswer is the reason for an exchange that chronyd did not answer at all.
func (c *Conn) noAnswer(items []Pending) string {
	return fmt.Sprintf("chronyd at %s does not answer %s requests", c.ep, commands(items))
}

// waitError says why replies did not come, with what the exchange threw away:
// a bare "i/o timeout" gives a person nothing to act on.
func (c *Conn) waitError(items []Pending, remaining, tries int, st exchangeStats, err error) error {
	var b strings.Builder
	if len(items) == 1 {
		fmt.Fprintf(&b, "no %s reply from chronyd at %s after %d tries", what(items), c.ep, tries)
	} else {
		fmt.Fprintf(&b, "no reply to %d of %s requests from chronyd at %s after %d tries", remaining, what(items), c.ep, tries)
	}
	if st.stale > 0 {
		fmt.Fprintf(&b, "; dropped %d replies to earlier requests (sequence numbers not in flight)", st.stale)
	}
	if st.invalid > 0 {
		fmt.Fprintf(&b, "; ignored %d invalid datagrams, the last: %v", st.invalid, st.lastInvalid)
	}
	if st.received == 0 && c.isUnix {
		fmt.Fprintf(&b, "; nothing came back: chronyd may be stopped, or unable to write into the reply directory %s (it needs search permission on the directory)", c.replyDir)
	}
	detail := fmt.Errorf("%s: %w", b.String(), err)
	switch {
	case !isTimeout(err):
		return withReason(fmt.Sprintf("read %s replies from chronyd at %s: %s", commands(items), c.ep, withoutAddresses(err)), detail)
	case st.received == 0:
		return withReason(c.noAnswer(items), detail)
	}
	// Which datagrams came, and what was wrong with the last, is up to
	// whoever sends them.
	return withReason(fmt.Sprintf("no %s reply from chronyd at %s: what came back answered no request", commands(items), c.ep), detail)
}

// Stat of a path, told in words a person can act on.
func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a socket"
}
