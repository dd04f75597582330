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
	if err := c.indexRequests(items); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return c.stopped(items, err)
	}
	defer c.interruptOnCancel(ctx).release()
	deadline, _ := ctx.Deadline()
	// A chronyd that stopped reading fills its queue and then every write
	// blocks: the deadline is what turns that into an error.
	if err := c.sock.SetWriteDeadline(deadline); err != nil {
		return err
	}
	x := exchange{c: c, ctx: ctx, items: items, deadline: deadline,
		remaining: len(items), tries: 1, wait: c.retry, lastProgress: time.Now()}
	for x.remaining > 0 {
		if err := x.fillWindow(); err != nil {
			return err
		}
		reply, err := x.awaitDatagram()
		if err != nil {
			return err
		}
		if reply != nil {
			x.dispatch(reply)
		}
	}
	return nil
}

// indexRequests maps each request's sequence number to its place, so a reply
// finds its request whatever order chronyd answers in, and clears what an
// earlier exchange left in items.
func (c *Conn) indexRequests(items []Pending) error {
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
	return nil
}

// interruptOnCancel makes a cancelled ctx interrupt a blocked read or write
// at once, until release.
func (c *Conn) interruptOnCancel(ctx context.Context) interruption {
	sock, done := c.sock, make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = sock.SetDeadline(time.Unix(1, 0))
	})
	return interruption{stop: stop, done: done}
}

// interruption is a pending interruption of a connection's socket. It is a
// value, not a closure, so that ending it costs no allocation per exchange.
type interruption struct {
	stop func() bool
	done chan struct{}
}

// release ends the interruption. If it has started, release waits for it, so
// that it cannot land on the next exchange over this connection.
func (in interruption) release() {
	if !in.stop() {
		<-in.done
	}
}

// exchange is the progress of one Exchange call.
type exchange struct {
	c        *Conn
	ctx      context.Context
	items    []Pending
	deadline time.Time

	// next is the first request not sent yet; requests before it were sent
	// at least once.
	next, inFlight, remaining int
	// tries counts the sends of the unanswered requests, for the error.
	tries int
	// wait is the retry interval, doubled at each resend; it runs from
	// lastProgress, the last reply or resend.
	wait         time.Duration
	lastProgress time.Time
	st           exchangeStats
}

// fillWindow sends requests not sent yet while fewer than maxInFlight are
// unanswered.
func (x *exchange) fillWindow() error {
	for x.inFlight < maxInFlight && x.next < len(x.items) {
		if err := x.c.send(x.items[x.next].Req); err != nil {
			return x.c.sendError(x.ctx, x.items, x.items[x.next].Req, err)
		}
		x.c.items[x.next].sent = true
		x.next++
		x.inFlight++
	}
	return nil
}

// awaitDatagram reads one datagram, until the retry interval runs out or the
// context ends, whichever comes first. When the retry interval runs out it
// resends the unanswered requests and returns no datagram and no error.
func (x *exchange) awaitDatagram() ([]byte, error) {
	by := x.lastProgress.Add(x.wait)
	if !x.deadline.IsZero() && x.deadline.Before(by) {
		by = x.deadline
	}
	if err := x.c.sock.SetReadDeadline(by); err != nil {
		return nil, err
	}
	if err := x.ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			// The deadline passed between two waits (a loaded machine):
			// the same unanswered wait as when a read notices it.
			return nil, x.c.waitError(x.items, x.remaining, x.tries, x.st, err)
		}
		return nil, x.c.stopped(x.items, err)
	}
	n, err := x.c.sock.Read(x.c.buf[:])
	if err == nil {
		x.st.received++
		return x.c.buf[:n], nil
	}
	// A cancellation is the caller's doing and says so; the context's own
	// deadline is a wait that went unanswered, told by waitError.
	if ctxErr := x.ctx.Err(); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
		return nil, x.c.stopped(x.items, ctxErr)
	}
	if isTimeout(err) && (x.deadline.IsZero() || time.Now().Before(x.deadline)) {
		return nil, x.resendUnanswered()
	}
	return nil, x.c.waitError(x.items, x.remaining, x.tries, x.st, err)
}

// resendUnanswered sends again every sent request still unanswered and
// doubles the wait, as chronyc does: a datagram may have been lost either way.
func (x *exchange) resendUnanswered() error {
	x.wait *= 2
	x.tries++
	x.lastProgress = time.Now()
	for i := range x.next {
		if x.c.items[i].answered {
			continue
		}
		if err := x.c.send(x.items[i].Req); err != nil {
			return x.c.sendError(x.ctx, x.items, x.items[i].Req, err)
		}
	}
	return nil
}

// dispatch files a datagram as the reply or refusal of the request in flight
// it answers, or counts it as stale or invalid for the error should the
// exchange fail.
func (x *exchange) dispatch(b []byte) {
	if err := checkReplyHeader(b); err != nil {
		x.st.invalid++
		x.st.lastInvalid = err
		return
	}
	i, ok := x.c.bySeq[replySequence(b)]
	if !ok || !x.c.items[i].sent || x.c.items[i].answered {
		// A reply to an earlier request, or a duplicate after a resend.
		x.st.stale++
		return
	}
	req := x.items[i].Req
	err := checkAnswer(b, RequestCommand(req))
	if err != nil && !isRefusal(err) {
		x.st.invalid++
		x.st.lastInvalid = fmt.Errorf("%s reply: %w", CommandName(RequestCommand(req)), err)
		return
	}
	x.c.items[i].answered = true
	x.remaining--
	x.inFlight--
	x.lastProgress = time.Now()
	if err != nil {
		x.items[i].Err = fmt.Errorf("%s request to chronyd at %s: %w", CommandName(RequestCommand(req)), x.c.ep, err)
		return
	}
	x.items[i].Reply = append(x.items[i].Reply, b...)
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
	stopped := fmt.Errorf("exchange of %s requests with chronyd at %s stopped: %w", what(items), c.ep, err)
	if errors.Is(err, context.DeadlineExceeded) {
		// The scrape's time ran out with chronyd silent: the cause of an
		// unanswered wait, whichever of the two noticed it first.
		return withReason(c.noAnswer(items), stopped)
	}
	return stopped
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
