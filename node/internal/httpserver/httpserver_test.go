package httpserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// patient are limits none of which ends a test's connection by itself: each
// test shortens the one it is about.
func patient() Limits {
	return Limits{
		ReadHeaderTimeout: time.Minute,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		MaxConnections:    100,
		ShutdownTimeout:   time.Minute,
	}
}

// bound is how long a test waits for what the limits promise before it
// fails: far above the limits a test sets (a few hundred milliseconds), far
// below patient(), and below the 10 s header timeout net/http was given
// before these limits.
const bound = 5 * time.Second

func start(t *testing.T, limits Limits, handler http.Handler) (*Server, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := Start("test", "127.0.0.1:0", handler, limits, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// shutdown calls Shutdown with no deadline of its own, as the collector
// does, and fails the test if it has not returned within bound.
func shutdown(t *testing.T, s *Server) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(bound):
		t.Fatalf("Shutdown has not returned after %v", bound)
	}
}

func hello(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello\n") }

// request sends one GET on c and reads its response.
func request(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatalf("send a request: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(bound))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("read the response's body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	return resp
}

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c until the server ends the connection and fails
// if it has not within bound. Bytes before the end (a response) are
// skipped.
func closedWithin(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(bound))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: connection still open after %v", what, bound)
	}
	// io.Copy returns nil on EOF; a reset is an end too.
}

// Pipelined requests from clients that never read: each handler blocks
// writing a body larger than the socket buffers. The write timeout is long,
// so only the shutdown deadline can end them: Shutdown returns, with the
// connections closed and the handlers ended, instead of waiting for ever.
func TestShutdownIsBoundedWithNonReadingClients(t *testing.T) {
	const clients = 5
	const pipelined = 100
	body := make([]byte, 8<<20) // above the largest loopback send buffer Linux tunes to (4 MiB)
	writing, ended := make(chan struct{}, clients*pipelined), make(chan struct{}, clients*pipelined)
	limits := patient()
	limits.ShutdownTimeout = 200 * time.Millisecond
	s, logs := start(t, limits, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		defer func() { ended <- struct{}{} }()
		writing <- struct{}{}
		_, _ = w.Write(body)
	}))
	for range clients {
		c := dial(t, s)
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		if _, err := io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: test\r\n\r\n", pipelined)); err != nil {
			t.Fatal(err)
		}
	}
	for range clients {
		<-writing
	}

	shutdown(t, s)

	timeout := time.After(bound)
	for range clients {
		select {
		case <-ended:
		case <-timeout:
			t.Fatal("handlers still writing after Shutdown returned")
		}
	}
	if extra := len(writing); extra != 0 {
		t.Errorf("%d more pipelined requests were handled after the first of each client", extra)
	}
	closed := logs.FilterMessageSnippet("still open at the shutdown deadline were closed").All()
	if len(closed) != 1 || closed[0].ContextMap()["connections"] != int64(clients) {
		t.Errorf("want one log line saying %d connections were closed, got %v", clients, closed)
	}
}

// Without a shutdown, a client that does not read loses its connection
// after write_timeout, and the handler's write fails.
func TestWriteTimeoutEndsNonReadingClient(t *testing.T) {
	body := make([]byte, 8<<20)
	written := make(chan error, 1)
	limits := patient()
	limits.WriteTimeout = 200 * time.Millisecond
	s, _ := start(t, limits, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, err := w.Write(body)
		written <- err
	}))
	defer shutdown(t, s)
	c := dial(t, s)
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-written:
		if err == nil {
			t.Error("8 MiB written to a client that reads nothing")
		}
	case <-time.After(bound):
		t.Fatalf("the handler is still writing after %v", bound)
	}
}

// A keep-alive connection that sends no next request is closed after
// idle_timeout.
func TestIdleConnectionsAreClosed(t *testing.T) {
	limits := patient()
	limits.IdleTimeout = 200 * time.Millisecond
	s, _ := start(t, limits, http.HandlerFunc(hello))
	defer shutdown(t, s)
	var conns []net.Conn
	for range 3 {
		c := dial(t, s)
		if resp := request(t, c, bufio.NewReader(c)); resp.Close {
			t.Fatal("the server asked to close: the connection is not kept alive, nothing to test")
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		closedWithin(t, c, "idle keep-alive connection")
	}
}

// A client that sends its header slowly, or not at all, is cut after
// read_header_timeout, however steadily it trickles; one that trickles its
// body is cut after read_timeout.
func TestSlowRequestsAreCut(t *testing.T) {
	tests := []struct {
		name    string
		limit   func(*Limits)
		send    string // at once
		trickle bool   // then one byte every 20 ms
	}{
		{"silent", func(l *Limits) { l.ReadHeaderTimeout = 200 * time.Millisecond }, "", false},
		{"unfinished header", func(l *Limits) { l.ReadHeaderTimeout = 200 * time.Millisecond }, "GET / HTTP/1.1\r\nHost: test\r\n", false},
		{"trickled header", func(l *Limits) { l.ReadHeaderTimeout = 200 * time.Millisecond }, "GET / HTTP/1.1\r\nHost: test\r\n", true},
		{"trickled body", func(l *Limits) { l.ReadTimeout = 300 * time.Millisecond; l.ReadHeaderTimeout = l.ReadTimeout },
			"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limits := patient()
			tt.limit(&limits)
			s, _ := start(t, limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			}))
			defer shutdown(t, s)
			c := dial(t, s)
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			if tt.trickle {
				go func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for range bound / (20 * time.Millisecond) {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						if _, err := c.Write([]byte("X")); err != nil {
							return
						}
					}
				}()
			}
			closedWithin(t, c, tt.name)
		})
	}
}

// Connections over max_connections are closed as soon as they are
// accepted, while the open ones are still served; a closed one frees its
// place. The first refusal is logged, the rest only counted, and the count
// is logged at shutdown.
func TestConnectionsOverTheLimitAreRefused(t *testing.T) {
	limits := patient()
	limits.MaxConnections = 2
	s, logs := start(t, limits, http.HandlerFunc(hello))
	var held []net.Conn
	var readers []*bufio.Reader
	for range limits.MaxConnections {
		c := dial(t, s)
		br := bufio.NewReader(c)
		request(t, c, br)
		held, readers = append(held, c), append(readers, br)
	}
	for i := range 3 {
		c := dial(t, s)
		_ = c.SetReadDeadline(time.Now().Add(bound))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Fatalf("connection %d over the limit: read %d bytes, %v; want it closed", i+1, n, err)
		}
	}
	if got := s.listener.refused.Load(); got != 3 {
		t.Errorf("%d refusals counted, want 3", got)
	}
	for i, c := range held {
		request(t, c, readers[i])
	}
	if warned := logs.FilterMessageSnippet("connection refused").All(); len(warned) != 1 {
		t.Errorf("%d log lines for 3 refusals, want the first only: %v", len(warned), warned)
	}

	held[0].Close()
	deadline := time.Now().Add(bound)
	for s.listener.open() >= limits.MaxConnections {
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection still holds its place after %v", bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := dial(t, s)
	request(t, c, bufio.NewReader(c))

	shutdown(t, s)
	counted := logs.FilterMessageSnippet("refused because max_connections").All()
	if len(counted) != 1 || counted[0].ContextMap()["refused"] != int64(3) {
		t.Errorf("want one line at shutdown counting 3 refusals, got %v", counted)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestLimitsCheck(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Limits)
		want   string
	}{
		{"defaults", func(*Limits) {}, ""},
		{"zero read header timeout", func(l *Limits) { l.ReadHeaderTimeout = 0 }, "read_header_timeout must be positive"},
		{"negative read timeout", func(l *Limits) { l.ReadTimeout = -time.Second }, "read_timeout must be positive"},
		{"zero write timeout", func(l *Limits) { l.WriteTimeout = 0 }, "write_timeout must be positive"},
		{"zero idle timeout", func(l *Limits) { l.IdleTimeout = 0 }, "idle_timeout must be positive"},
		{"zero shutdown timeout", func(l *Limits) { l.ShutdownTimeout = 0 }, "shutdown_timeout must be positive"},
		{"header slower than request", func(l *Limits) { l.ReadHeaderTimeout = time.Minute }, "read_header_timeout (1m0s) must not exceed read_timeout (10s)"},
		{"no connections", func(l *Limits) { l.MaxConnections = 0 }, "max_connections must be at least 1, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLimits()
			tt.modify(&l)
			err := l.Check()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Check() = %v, want %q", err, tt.want)
			}
		})
	}
}

// Limits left at zero would refuse every connection: Start says so rather
// than serve nothing.
func TestStartRefusesUnboundedLimits(t *testing.T) {
	s, err := Start("test", "127.0.0.1:0", http.HandlerFunc(hello), Limits{}, zap.NewNop())
	if err == nil {
		_ = s.Shutdown(context.Background())
		t.Fatal("Start with zero limits succeeded")
	}
	for _, want := range []string{"test: serve on 127.0.0.1:0", "write_timeout must be positive", "max_connections must be at least 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
