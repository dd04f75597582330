package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// udpServer collects `want` requests, then answers them through reply, which
// may reorder, drop, duplicate or refuse; after the first round it answers
// resends one by one.
func udpServer(t *testing.T, want int, reply func(round int, reqs [][]byte) [][]byte) (Endpoint, func() int) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var mu sync.Mutex
	received := 0
	go func() {
		buf := make([]byte, 1024)
		var reqs [][]byte
		round := 0
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			mu.Lock()
			received++
			mu.Unlock()
			reqs = append(reqs, append([]byte(nil), buf[:n]...))
			if len(reqs) < want {
				continue
			}
			for _, pkt := range reply(round, reqs) {
				_, _ = conn.WriteToUDP(pkt, from)
			}
			reqs, want = nil, 1
			round++
		}
	}()
	ep, _ := ParseEndpoint("udp://" + conn.LocalAddr().String())
	return ep, func() int { mu.Lock(); defer mu.Unlock(); return received }
}

// request is a sources request (no data) with sequence number seq.
func request(cmd uint16, seq uint32) []byte {
	req := make([]byte, requestHeaderLen+396)
	req[0], req[1] = protocolVersion, packetTypeRequest
	binary.BigEndian.PutUint16(req[4:6], cmd)
	SetRequestSequence(req, seq)
	return req
}

// replyTo makes a minimal well-formed reply to a sources request.
func replyTo(req []byte, status Status) []byte {
	r := make([]byte, ReplyHeaderLen+replyBodyLen[RpyNSources])
	r[0], r[1] = protocolVersion, packetTypeReply
	copy(r[4:6], req[4:6])
	binary.BigEndian.PutUint16(r[6:8], RpyNSources)
	binary.BigEndian.PutUint16(r[8:10], uint16(status))
	binary.BigEndian.PutUint32(r[16:20], RequestSequence(req))
	return r
}

func dial(t *testing.T, ep Endpoint, opts Options) *Conn {
	t.Helper()
	c, err := Dial(ep, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// exchangeAll exchanges n requests numbered from 1 and fails unless every
// one is answered.
func exchangeAll(t *testing.T, c *Conn, n int) {
	t.Helper()
	items := make([]Pending, n)
	for i := range items {
		items[i].Req = request(CmdNSources, uint32(i+1))
	}
	if err := c.Exchange(within(t, 10*time.Second), items); err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if len(it.Reply) == 0 {
			t.Fatalf("request %d of %d unanswered", i, n)
		}
	}
}

func exchangeOf(seqs ...uint32) []Pending {
	items := make([]Pending, len(seqs))
	for i, s := range seqs {
		items[i].Req = request(CmdNSources, s)
	}
	return items
}

func TestExchangeRepliesInAnyOrder(t *testing.T) {
	ep, _ := udpServer(t, 3, func(_ int, reqs [][]byte) [][]byte {
		// Reversed, with a stale reply and a duplicate mixed in.
		stale := replyTo(request(CmdNSources, 99), 0)
		return [][]byte{replyTo(reqs[2], 0), stale, replyTo(reqs[1], 0), replyTo(reqs[2], 0), replyTo(reqs[0], 0)}
	})
	c := dial(t, ep, Options{})
	items := exchangeOf(1, 2, 3)
	if err := c.Exchange(within(t, 2*time.Second), items); err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil || len(it.Reply) == 0 || replySequence(it.Reply) != uint32(i+1) {
			t.Errorf("item %d: reply %v err %v", i, it.Reply, it.Err)
		}
	}
}

// A lost reply: only the unanswered request is sent again.
func TestExchangeResendsOnlyTheUnanswered(t *testing.T) {
	ep, received := udpServer(t, 3, func(round int, reqs [][]byte) [][]byte {
		if round == 0 {
			return [][]byte{replyTo(reqs[0], 0), replyTo(reqs[2], 0)}
		}
		return [][]byte{replyTo(reqs[0], 0)}
	})
	c := dial(t, ep, Options{RetryInterval: 50 * time.Millisecond})
	items := exchangeOf(1, 2, 3)
	if err := c.Exchange(within(t, 2*time.Second), items); err != nil {
		t.Fatal(err)
	}
	if items[1].Err != nil || len(items[1].Reply) == 0 {
		t.Errorf("the lost reply was not resent: %+v", items[1])
	}
	if got := received(); got != 4 {
		t.Errorf("%d requests sent, want 3 and one resend", got)
	}
}

// A refusal is that request's error; the others still get their replies.
func TestExchangeRefusalIsPerRequest(t *testing.T) {
	ep, _ := udpServer(t, 2, func(_ int, reqs [][]byte) [][]byte {
		return [][]byte{replyTo(reqs[0], StatusUnauth), replyTo(reqs[1], 0)}
	})
	c := dial(t, ep, Options{})
	items := exchangeOf(1, 2)
	if err := c.Exchange(within(t, 2*time.Second), items); err != nil {
		t.Fatal(err)
	}
	if !RefusedWith(items[0].Err, StatusUnauth) || items[1].Err != nil {
		t.Errorf("errors %v / %v", items[0].Err, items[1].Err)
	}
}

// The errors a person reads when replies do not come, table-driven: each says
// how many requests went unanswered and what was thrown away.
func TestExchangeWaitErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply func(req []byte) [][]byte
		want  []string
	}{
		{"silence", func([]byte) [][]byte { return nil },
			[]string{"no reply to 2 of 2 sources requests", "tries", "i/o timeout"}},
		{"stale only", func(req []byte) [][]byte {
			return [][]byte{replyTo(request(CmdNSources, RequestSequence(req)+1000), 0)}
		}, []string{"no reply to 2 of 2", "replies to earlier requests"}},
		{"garbage only", func([]byte) [][]byte { return [][]byte{[]byte("not chrony")} },
			[]string{"ignored", "invalid datagrams", "truncated reply: 10 bytes"}},
		{"wrong version", func(req []byte) [][]byte { r := replyTo(req, 0); r[0] = 5; return [][]byte{r} },
			[]string{"ignored", "protocol version 5, want 6"}},
		{"truncated data", func(req []byte) [][]byte { return [][]byte{replyTo(req, 0)[:ReplyHeaderLen+2]} },
			[]string{"ignored", "truncated sources reply: 2 bytes of data, want 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, _ := udpServer(t, 1, func(_ int, reqs [][]byte) [][]byte {
				var out [][]byte
				for _, r := range reqs {
					out = append(out, tt.reply(r)...)
				}
				return out
			})
			c := dial(t, ep, Options{RetryInterval: 50 * time.Millisecond})
			start := time.Now()
			err := c.Exchange(within(t, 300*time.Millisecond), exchangeOf(1, 2))
			if err == nil {
				t.Fatal("no error without valid replies")
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("gave up after %s, deadline was 300ms", took)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// One invalid datagram does not fail the exchange: chronyc ignores it and
// keeps waiting, and so do we.
func TestExchangeIgnoresAnInvalidDatagram(t *testing.T) {
	ep, _ := udpServer(t, 1, func(_ int, reqs [][]byte) [][]byte {
		bad := replyTo(reqs[0], 0)
		bad[1] = packetTypeRequest
		return [][]byte{[]byte{1, 2, 3}, bad, replyTo(reqs[0], 0)}
	})
	c := dial(t, ep, Options{})
	items := exchangeOf(5)
	if err := c.Exchange(within(t, 2*time.Second), items); err != nil {
		t.Fatal(err)
	}
	if items[0].Err != nil || len(items[0].Reply) == 0 {
		t.Errorf("reply %v err %v", items[0].Reply, items[0].Err)
	}
}

func TestExchangeRejectsSharedSequence(t *testing.T) {
	ep, _ := udpServer(t, 2, func(int, [][]byte) [][]byte { return nil })
	c := dial(t, ep, Options{})
	if err := c.Exchange(within(t, 2*time.Second), exchangeOf(7, 7)); err == nil || !strings.Contains(err.Error(), "share sequence number 7") {
		t.Errorf("two requests with one sequence number: %v", err)
	}
}

// Cancelling the context ends a wait at once, long before the deadline.
func TestExchangeCancelled(t *testing.T) {
	ep, _ := udpServer(t, 1, func(int, [][]byte) [][]byte { return nil })
	c := dial(t, ep, Options{RetryInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := c.Exchange(ctx, exchangeOf(1))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancellation, got %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancel took %s to end the wait", took)
	}
}

// No more than maxInFlight requests wait for an answer at once: a server that
// answers only when it has nothing more to read sees at most that many.
func TestExchangeWindow(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	largest := 0
	go func() {
		buf := make([]byte, 1024)
		for {
			var reqs [][]byte
			var from *net.UDPAddr
			_ = conn.SetReadDeadline(time.Time{})
			for {
				n, addr, err := conn.ReadFromUDP(buf)
				if err != nil {
					if len(reqs) == 0 {
						return
					}
					break
				}
				from = addr
				reqs = append(reqs, append([]byte(nil), buf[:n]...))
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			}
			mu.Lock()
			largest = max(largest, len(reqs))
			mu.Unlock()
			for _, r := range reqs {
				_, _ = conn.WriteToUDP(replyTo(r, 0), from)
			}
		}
	}()
	ep, _ := ParseEndpoint("udp://" + conn.LocalAddr().String())
	exchangeAll(t, dial(t, ep, Options{}), 40)
	mu.Lock()
	defer mu.Unlock()
	if largest > maxInFlight || largest == 0 {
		t.Errorf("server saw %d requests in flight at once, want 1..%d", largest, maxInFlight)
	}
}
