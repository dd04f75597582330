// Package httpserver is the listener the node components share: bound at
// Start, so that a taken port fails the collector's start with the
// endpoint named, bounded in what a client can hold of it (time and
// connections, see Limits), and stopped at Shutdown within a deadline.
package httpserver // import "github.com/chronyotel/otelcol-chrony/node/internal/httpserver"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// maxHeaderBytes bounds a request's header. A scrape or a probe sends a few
// hundred bytes (a bearer token included); net/http's 1 MB default would let
// each connection hold a megabyte while its header is read.
const maxHeaderBytes = 16 << 10

// Limits bound what clients can hold of a server. The ports are on the
// node's host network, where any pod or host may connect: without them an
// idle connection stays open forever and a client that does not read keeps
// a response, and Shutdown, waiting forever. The components embed it in
// their configuration, so the keys are theirs.
type Limits struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// header, from its first byte (or from the connection's start).
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	// ReadTimeout is how long reading a whole request may take.
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout is how long a response may take to be written, from the
	// end of the request's header: a client that does not read loses its
	// connection after it.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxConnections is how many connections may be open at once; one more
	// is closed as soon as it is accepted.
	MaxConnections int `mapstructure:"max_connections"`
	// ShutdownTimeout is how long Shutdown waits for responses in flight
	// before it closes every connection still open.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// DefaultLimits are the limits of a node's two ports, where a few
// Prometheus servers and the kubelet are the clients. The idle timeout is
// longer than a one-minute scrape interval and far from its multiples, so a
// scraper keeps its connection and never sends on one being closed. A
// response of theirs takes milliseconds, so a second at shutdown is ample,
// and both ports' deadlines together stay well within a pod's grace period.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxConnections:    32,
		ShutdownTimeout:   time.Second,
	}
}

// Check reports each limit that would leave the server unbounded or could
// not work, by its configuration key. It is not named Validate so that the
// collector's validation, which walks embedded structs too, does not report
// the same errors twice.
func (l *Limits) Check() error {
	var errs []error
	for _, d := range []struct {
		key   string
		value time.Duration
	}{
		{"read_header_timeout", l.ReadHeaderTimeout},
		{"read_timeout", l.ReadTimeout},
		{"write_timeout", l.WriteTimeout},
		{"idle_timeout", l.IdleTimeout},
		{"shutdown_timeout", l.ShutdownTimeout},
	} {
		if d.value <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive (a zero would leave it unbounded), got %v", d.key, d.value))
		}
	}
	if l.ReadHeaderTimeout > l.ReadTimeout && l.ReadTimeout > 0 {
		errs = append(errs, fmt.Errorf("read_header_timeout (%v) must not exceed read_timeout (%v), which includes the header", l.ReadHeaderTimeout, l.ReadTimeout))
	}
	if l.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max_connections must be at least 1, got %d", l.MaxConnections))
	}
	return errors.Join(errs...)
}

// Server serves one handler on one endpoint.
type Server struct {
	what     string
	endpoint string
	limits   Limits
	logger   *zap.Logger
	server   *http.Server
	listener *limitListener
	served   chan struct{}
}

// Start listens on endpoint and serves handler until Shutdown, within
// limits. what names the component in errors and logs.
func Start(what, endpoint string, handler http.Handler, limits Limits, logger *zap.Logger) (*Server, error) {
	// A zero Limits would refuse every connection and never time one out.
	if err := limits.Check(); err != nil {
		return nil, fmt.Errorf("%s: serve on %s: %w", what, endpoint, err)
	}
	ln, err := net.Listen("tcp", endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", what, endpoint, err)
	}
	s := &Server{
		what: what, endpoint: endpoint, limits: limits, logger: logger,
		served: make(chan struct{}),
		server: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout:       limits.ReadTimeout,
			WriteTimeout:      limits.WriteTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		},
	}
	s.listener = &limitListener{Listener: ln, slots: make(chan struct{}, limits.MaxConnections), onFirstRefusal: func(remote net.Addr) {
		logger.Warn(what+": connection refused, max_connections are open; further refusals are counted and reported at shutdown",
			zap.String("endpoint", endpoint), zap.Int("max_connections", limits.MaxConnections), zap.String("remote", remote.String()))
	}}
	go func() {
		defer close(s.served)
		if err := s.server.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+": serving stopped", zap.String("endpoint", endpoint), zap.Error(err))
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (the port chosen for ":0").
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Shutdown stops accepting and waits for responses in flight, at most
// ShutdownTimeout (or until ctx ends); then it closes the connections still
// open, so that a client that does not read cannot keep the collector from
// stopping. That is the server working as configured, so it is logged, not
// returned as an error. A nil Server (never started) is fine.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.limits.ShutdownTimeout)
	defer cancel()
	if err := s.server.Shutdown(ctx); err != nil {
		open := s.listener.open()
		if err := s.server.Close(); err != nil {
			return fmt.Errorf("%s: close the connections on %s still open after shutdown: %w", s.what, s.endpoint, err)
		}
		s.logger.Warn(s.what+": connections still open at the shutdown deadline were closed",
			zap.String("endpoint", s.endpoint), zap.Int("connections", open), zap.Duration("shutdown_timeout", s.limits.ShutdownTimeout), zap.NamedError("reason", err))
	}
	<-s.served
	if n := s.listener.refused.Load(); n > 0 {
		s.logger.Warn(s.what+": connections refused because max_connections were open",
			zap.String("endpoint", s.endpoint), zap.Int("max_connections", s.limits.MaxConnections), zap.Int64("refused", n))
	}
	return nil
}

// limitListener holds a slot per open connection and closes a connection
// for which there is none as soon as it is accepted: waiting for a slot
// instead would let idle clients queue a scraper behind them, and each
// open connection costs its buffers and goroutine.
type limitListener struct {
	net.Listener
	slots          chan struct{}
	refused        atomic.Int64
	onFirstRefusal func(remote net.Addr)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			// Counted and logged before the close, so that a client which
			// sees the close finds the refusal said.
			if l.refused.Add(1) == 1 {
				l.onFirstRefusal(c.RemoteAddr())
			}
			_ = c.Close()
		}
	}
}

func (l *limitListener) open() int { return len(l.slots) }

// slotConn gives its slot back when it is closed, once however often net/http
// closes it.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets net/http half-close after an error response, as it does on
// a bare TCP connection, so that the client reads the response before the
// connection's end.
func (c *slotConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
