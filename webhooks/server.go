package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// Publisher stores the jobs of one request durably under one idempotency
// key bound to their content (queue.ErrIdempotencyConflict when the key
// was used for other content), or under none when the key is ""; it
// returns only after the queue acknowledged them. Report publishes a status event. *queue.Publisher
// implements it.
type Publisher interface {
	PublishSet(ctx context.Context, key string, js []*jobs.Job) ([]queue.Ack, error)
	Report(ctx context.Context, ev jobs.StatusEvent) error
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
	// Replay remembers the signatures of accepted HMAC-signed generic
	// requests; required when generic_hmac_secret is set (see
	// OpenReplayGuard).
	Replay ReplayGuard
	// OSSSeen remembers the OSS events stored; required when oss_token is
	// set (see OpenOSSSeen).
	OSSSeen OSSSeen
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
	budget  *budget
}

// New validates cfg, checks every rule's URLs against the validator's
// allowlist and returns a Server. Endpoints whose secret is not set answer
// 404 with the setting that enables them.
func New(cfg Config, d Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	// The fields are named as in the config file.
	if errs := cfg.Validate(); errs != nil {
		return nil, errs.Prefix("webhooks")
	}
	if d.Validator == nil || d.Publisher == nil {
		return nil, errors.New("webhooks: a Validator and a Publisher are required")
	}
	if cfg.GenericHMACSecret != "" && d.Replay == nil {
		return nil, errors.New("webhooks: generic_hmac_secret needs a ReplayGuard, so that a signed request is accepted once")
	}
	if cfg.OSSToken != "" && d.OSSSeen == nil {
		return nil, errors.New("webhooks: oss_token needs an OSSSeen, so that a redelivered event is stored once")
	}
	if errs := append(CheckRuleURLs(cfg.Rules, d.Validator), CheckOSSRuleURLs(cfg.OSSRules, d.Validator)...); errs != nil {
		return nil, errs.Prefix("webhooks")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{cfg: cfg, deps: d, log: d.Logger, mux: http.NewServeMux(),
		budget: newBudget(cfg.BufferBudget, d.Metrics.buffered())}
	handlers := map[string]http.Handler{"github": s.instrument("github", s.github),
		"gitlab": s.instrument("gitlab", s.gitlab), "generic": s.instrument("generic", s.generic),
		"oss": s.instrument("oss", s.oss)}
	for _, h := range Hooks(cfg) {
		if h.Enabled {
			s.mux.Handle("POST "+h.Path, handlers[h.Name])
		} else {
			s.mux.Handle("POST "+h.Path, disabledHook(h))
		}
	}
	s.mux.HandleFunc(routeHealthz, s.healthz)
	s.mux.HandleFunc(routeReadyz, s.readyz)
	s.handler = s.mux
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

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

// readyz answers which check failed and its state, never how or why: the
// listener is public, and an error's text names internal addresses, users
// and hosts. The detail goes to the log at WARN; the CLI and the admin
// listener's metrics show the rest.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	for _, c := range s.deps.Ready {
		if err := c.Check(ctx); err != nil {
			var n Notice
			if errors.As(err, &n) {
				checks[c.Name] = n.state() // a state shown to all, ready all the same
				continue
			}
			ready = false
			checks[c.Name] = "failing"
			s.log.Warn("readiness check failed", slog.String("check", c.Name), slog.String("error", clip(err.Error(), maxEcho)))
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
