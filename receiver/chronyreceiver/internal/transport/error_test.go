package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// exchangeOnFreshConn is what the client does after a failure: a new
// connection (a new reply socket or local port) for the next exchange of
// one sources request.
func exchangeOnFreshConn(t *testing.T, ep Endpoint, deadline time.Duration, seq uint32) *Error {
	t.Helper()
	c, err := Dial(ep, Options{RetryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Exchange(within(t, deadline), exchangeOf(seq))
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("exchange %d: %v is not a *transport.Error", seq, err)
	}
	return te
}

// Each cause keeps one reason across exchanges, however the details of its
// occurrences differ; the details stay in the text.
func TestErrorReasonStaysWhileTheCauseDoes(t *testing.T) {
	stopped := unixEndpoint(t, fakeUnixChronyd(t, t.TempDir(), -1, 0))
	types := []byte{1, 2, 7, 2, 0, 255}
	rogue, _ := udpServer(t, 1, func(round int, reqs [][]byte) [][]byte {
		r := replyTo(reqs[0], 0)
		r[1] = types[round%len(types)]
		// As a reply, it answers no request in flight.
		binary.BigEndian.PutUint32(r[16:20], RequestSequence(reqs[0])+1)
		return [][]byte{r[:ReplyHeaderLen]}
	})
	closed, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	nobody, _ := ParseEndpoint("udp://" + closed.LocalAddr().String())
	closed.Close()

	tests := []struct {
		name      string
		ep        Endpoint
		exchanges int
		reason    string
		// Each of these is in the text of some exchange: the details did vary.
		details []string
	}{
		// Eleven datagrams fill a unix socket's queue: first nothing comes
		// back, then the request cannot even be sent.
		{"wedged chronyd", stopped, 14, "chronyd at " + stopped.String() + " does not answer sources requests",
			[]string{"nothing came back", "not reading its socket (queue full"}},
		{"rogue peer", rogue, len(types), "no sources reply from chronyd at " + rogue.String() + ": what came back answered no request",
			[]string{"packet type 1 is not a reply", "packet type 255 is not a reply", "replies to earlier requests"}},
		{"nothing listens", nobody, 3, "read sources replies from chronyd at " + nobody.String() + ": read: connection refused",
			[]string{"connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var texts []string
			for i := range tt.exchanges {
				err := exchangeOnFreshConn(t, tt.ep, 50*time.Millisecond, uint32(i+1))
				if err.Reason() != tt.reason {
					t.Errorf("exchange %d: reason %q, want %q (error %q)", i, err.Reason(), tt.reason, err)
				}
				texts = append(texts, err.Error())
			}
			all := strings.Join(texts, "\n")
			for _, d := range tt.details {
				if !strings.Contains(all, d) {
					t.Errorf("no error says %q: %s", d, all)
				}
			}
		})
	}
}

// The scrape's deadline can end an exchange before the read that would have
// timed out notices: that is the same silence, so a wedged chronyd keeps one
// reason whichever of the two comes first (it once logged a second WARN).
func TestExpiredDeadlineHasTheNoAnswerReason(t *testing.T) {
	ep := unixEndpoint(t, fakeUnixChronyd(t, t.TempDir(), -1, 0))
	c := dial(t, ep, Options{})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	items := exchangeOf(1)
	err := c.Exchange(ctx, items)
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v has no reason", err)
	}
	if want := c.noAnswer(items); te.Reason() != want {
		t.Errorf("reason %q, want %q", te.Reason(), want)
	}
	// A cancellation is the caller's doing and no cause of chronyd's.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := c.Exchange(cctx, exchangeOf(2)); errors.As(err, &te) {
		t.Errorf("a cancelled exchange got the reason %q", te.Reason())
	}
}
