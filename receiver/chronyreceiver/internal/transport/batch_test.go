package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// batchServer collects `want` requests, then answers them through reply,
// which may reorder, drop, duplicate or refuse.
func batchServer(t *testing.T, want int, reply func(round int, reqs [][]byte) [][]byte) (Endpoint, *int) {
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
			reqs, want = nil, 1 // after the first round, answer retries one by one
			round++
		}
	}()
	ep, _ := ParseEndpoint("udp://" + conn.LocalAddr().String())
	return ep, &received
}

// replyTo makes a minimal successful reply to req (an RPY_N_SOURCES).
func replyTo(req []byte, status uint16) []byte {
	r := make([]byte, replyHeaderLen+4)
	copy(r, req[:6])
	r[1] = packetTypeReply
	binary.BigEndian.PutUint16(r[6:8], 2)
	binary.BigEndian.PutUint16(r[8:10], status)
	copy(r[16:20], req[8:12])
	return r
}

// dialBatch dials ep for a test, with a deadline for the whole exchange.
func dialBatch(t *testing.T, ep Endpoint, opts Options, within time.Duration) *Conn {
	t.Helper()
	c, err := Dial(ep, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(within))
	return c
}

func batchOf(seqs ...byte) []Pending {
	items := make([]Pending, len(seqs))
	for i, s := range seqs {
		items[i].Req = request(CmdNSources, s)
	}
	return items
}

func TestBatchRepliesInAnyOrder(t *testing.T) {
	ep, _ := batchServer(t, 3, func(_ int, reqs [][]byte) [][]byte {
		// Reversed, with a stale reply and a duplicate mixed in.
		stale := replyTo(request(CmdNSources, 99), 0)
		return [][]byte{replyTo(reqs[2], 0), stale, replyTo(reqs[1], 0), replyTo(reqs[2], 0), replyTo(reqs[0], 0)}
	})
	c := dialBatch(t, ep, Options{}, 2*time.Second)
	items := batchOf(1, 2, 3)
	if err := c.Batch(items); err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if it.Err != nil || len(it.Reply) == 0 || it.Reply[19] != byte(i+1) {
			t.Errorf("item %d: reply %v err %v", i, it.Reply, it.Err)
		}
	}
	if c.Stale < 1 {
		t.Errorf("stale replies counted: %d", c.Stale)
	}
}

// A lost reply: only the unanswered request is sent again.
func TestBatchRetriesOnlyTheUnanswered(t *testing.T) {
	ep, received := batchServer(t, 3, func(round int, reqs [][]byte) [][]byte {
		if round == 0 {
			return [][]byte{replyTo(reqs[0], 0), replyTo(reqs[2], 0)}
		}
		return [][]byte{replyTo(reqs[0], 0)}
	})
	c := dialBatch(t, ep, Options{RetryInterval: 50 * time.Millisecond}, 2*time.Second)
	items := batchOf(1, 2, 3)
	if err := c.Batch(items); err != nil {
		t.Fatal(err)
	}
	if items[1].Err != nil || len(items[1].Reply) == 0 {
		t.Errorf("the lost reply was not retried: %+v", items[1])
	}
	if *received != 4 {
		t.Errorf("%d requests sent, want 3 and one retry", *received)
	}
}

// A refusal is that request's error; the others still get their replies.
func TestBatchRefusalIsPerRequest(t *testing.T) {
	ep, _ := batchServer(t, 2, func(_ int, reqs [][]byte) [][]byte {
		return [][]byte{replyTo(reqs[0], uint16(statusUnauth)), replyTo(reqs[1], 0)}
	})
	c := dialBatch(t, ep, Options{}, 2*time.Second)
	items := batchOf(1, 2)
	if err := c.Batch(items); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(items[0].Err, ErrUnauthorised) || items[1].Err != nil {
		t.Errorf("errors %v / %v", items[0].Err, items[1].Err)
	}
}

// Nothing answers: the batch ends at the deadline, saying how many were
// still unanswered.
func TestBatchDeadline(t *testing.T) {
	ep, _ := batchServer(t, 100, func(int, [][]byte) [][]byte { return nil })
	c := dialBatch(t, ep, Options{RetryInterval: 50 * time.Millisecond}, 300*time.Millisecond)
	err := c.Batch(batchOf(1, 2))
	if err == nil {
		t.Fatal("no error without replies")
	}
	if want := "read replies to 2 of 2 requests"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestBatchRejectsSharedSequence(t *testing.T) {
	ep, _ := batchServer(t, 2, func(int, [][]byte) [][]byte { return nil })
	c := dialBatch(t, ep, Options{}, 2*time.Second)
	if err := c.Batch(batchOf(7, 7)); err == nil {
		t.Error("two requests with one sequence number accepted")
	}
}
