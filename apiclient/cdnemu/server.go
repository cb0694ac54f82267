package cdnemu

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an Emulator listening on a loopback port, in the manner of
// httptest.Server.
type Server struct {
	*Emulator
	// URL is the base URL, http://127.0.0.1:port, to use as the endpoint.
	URL string

	srv       *http.Server
	done      chan struct{}
	closeOnce sync.Once
}

// NewServer starts an Emulator configured by opts on 127.0.0.1 at a free
// port. Close stops it.
func NewServer(opts Options) (*Server, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	return Serve(e, "127.0.0.1:0")
}

// Serve starts e listening on addr ("127.0.0.1:0" for a free port).
func Serve(e *Emulator, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cdnemu: listen on %s: %w", addr, err)
	}
	s := &Server{
		Emulator: e,
		URL:      "http://" + ln.Addr().String(),
		srv:      &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed after Close or Shutdown, or the
		// listener's error; either way the server is done.
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server, ending open connections, and waits for it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.srv.Close()
		<-s.done
	})
}

// Shutdown stops the server gracefully, waiting for calls in flight until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.closeOnce.Do(func() { <-s.done })
	return err
}
