// Package httpserver is the listener the node components share: bound at
// Start, so that a taken port fails the collector's start with the
// endpoint named, and drained at Shutdown.
package httpserver // import "github.com/chronyotel/otelcol-chrony/node/internal/httpserver"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Server serves one handler on one endpoint.
type Server struct {
	server   *http.Server
	listener net.Listener
	served   chan struct{}
}

// Start listens on endpoint and serves handler until Shutdown. what names
// the component in errors and logs.
func Start(what, endpoint string, handler http.Handler, logger *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", what, endpoint, err)
	}
	s := &Server{listener: ln, served: make(chan struct{}),
		server: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.served)
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+": serving stopped", zap.String("endpoint", endpoint), zap.Error(err))
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (the port chosen for ":0").
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Shutdown stops accepting, waits for requests in flight, and returns when
// the serving goroutine has ended. A nil Server (never started) is fine.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	err := s.server.Shutdown(ctx)
	<-s.served
	return err
}
