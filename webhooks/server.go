package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// Publisher stores a job durably; it returns only after the queue
// acknowledged it. dedupeKey becomes the Nats-Msg-Id ("" means the job ID).
// *jobs.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, j *jobs.Job, dedupeKey string) (jobs.Ack, error)
}

// ReadyCheck is one dependency /readyz asks about.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are what the server needs besides its Config.
type Deps struct {
	Validator *jobs.Validator
	Publisher Publisher
	Ready     []ReadyCheck
	Logger    *slog.Logger
	// Metrics records requests; nil records nothing.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the webhook endpoints and health checks.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
}

// New validates cfg, checks every rule's URLs against the validator's
// allowlist and returns a Server. Endpoints whose secret is not set answer
// 404 with the setting that enables them.
func New(cfg Config, d Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Validator == nil || d.Publisher == nil {
		return nil, errors.New("webhooks: a Validator and a Publisher are required")
	}
	if err := checkRuleURLs(cfg.Rules, d.Validator); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{cfg: cfg, deps: d, log: d.Logger, mux: http.NewServeMux()}
	handlers := map[string]http.Handler{"github": s.instrument("github", s.github),
		"gitlab": s.instrument("gitlab", s.gitlab), "generic": s.instrument("generic", s.generic)}
	for _, h := range Hooks(cfg) {
		if h.Enabled {
			s.mux.Handle("POST "+h.Path, handlers[h.Name])
		} else {
			s.mux.Handle("POST "+h.Path, disabledHook(h))
		}
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.handler = s.mux
	return s, nil
}

// checkRuleURLs makes sure every URL a rule can produce is allowed, so a
// misconfigured rule fails at start rather than on every deploy.
func checkRuleURLs(rules []Rule, v *jobs.Validator) error {
	var errs []error
	for i, r := range rules {
		if r.URLTemplate != "" {
			sample := r.render("sample/file.css", "owner/repo", "main")
			if _, err := v.Normalize(sample, apiclient.ObjectFile); err != nil {
				errs = append(errs, fmt.Errorf("webhooks.rules[%d].url_template: %w", i, err))
			}
		}
		for _, list := range []struct {
			field string
			paths []string
			ot    apiclient.ObjectType
		}{{"refresh", r.Refresh, apiclient.ObjectFile}, {"refresh_dirs", r.RefreshDirs, apiclient.ObjectDirectory}, {"prefetch", r.Prefetch, apiclient.ObjectFile}} {
			for k, p := range list.paths {
				if _, err := v.Normalize(p, list.ot); err != nil {
					errs = append(errs, fmt.Errorf("webhooks.rules[%d].%s[%d]: %w", i, list.field, k, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Handle mounts another handler (for example /metrics) on the server's mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HTTPServer returns an http.Server for the handler with the configured
// address and timeouts.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.Listen,
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Run serves on the configured address until ctx ends, then shuts down
// gracefully, letting requests in flight finish their publish.
func (s *Server) Run(ctx context.Context) error {
	hs := s.HTTPServer()
	ln, err := net.Listen("tcp", hs.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set webhooks.listen to a free address)", hs.Addr, err)
	}
	s.log.Info("webhooks listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve webhooks: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down webhooks: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	for _, c := range s.deps.Ready {
		if err := c.Check(ctx); err != nil {
			var n Notice
			ready = ready && errors.As(err, &n)
			checks[c.Name] = err.Error()
			continue
		}
		checks[c.Name] = "ok"
	}
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unready", "checks": checks})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}
