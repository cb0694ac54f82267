package cdnemu

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
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
	return serve(e, ln, "http://"), nil
}

// ServeTLS starts e listening with TLS on addr, presenting cert; URL is
// then https://host:port. Clients that only speak https to STS (the role
// and OIDC providers of credentials-go) need it, with the certificate's
// CA trusted (SSL_CERT_FILE, see TestCA).
func ServeTLS(e *Emulator, addr string, cert tls.Certificate) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cdnemu: listen on %s: %w", addr, err)
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	return serve(e, tln, "https://"), nil
}

func serve(e *Emulator, ln net.Listener, scheme string) *Server {
	s := &Server{
		Emulator: e,
		URL:      scheme + ln.Addr().String(),
		srv:      &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second},
		done:     make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed after Close or Shutdown, or the
		// listener's error; either way the server is done.
		_ = s.srv.Serve(ln)
	}()
	return s
}

// Host returns host:port of the server, the form an STS endpoint takes.
func (s *Server) Host() string {
	_, rest, _ := strings.Cut(s.URL, "://")
	return rest
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
