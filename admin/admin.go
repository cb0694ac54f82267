package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

// DefaultAdminListen keeps the operator surfaces on loopback unless the
// operator says otherwise.
const DefaultAdminListen = "127.0.0.1:9090"

// AdminConfig configures the admin listener: /metrics and, when asked,
// profiling, for operators only; never the webhook port.
type AdminConfig struct {
	// Listen is host:port; default 127.0.0.1:9090.
	Listen string `yaml:"listen" json:"listen"`
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool `yaml:"pprof" json:"pprof"`
	// Token, when set, lets an operator who logs in with it act from the
	// console (pause, resume, cancel, retry); without it the console is
	// read-only.
	Token secretfile.Secret `yaml:"token" json:"token"`
}

// WithDefaults returns c with zero values filled in.
func (c AdminConfig) WithDefaults() AdminConfig {
	if c.Listen == "" {
		c.Listen = DefaultAdminListen
	}
	return c
}

// Validate returns every problem of c given the webhook listener's address
// and the metrics path it will serve. It checks values of two sections
// (admin and metrics), so its fields are paths from the config's root
// ("admin.listen", "metrics.path"), the one validator config calls
// without a prefix.
func (c AdminConfig) Validate(webhooksListen, metricsPath string) fielderr.List {
	var errs fielderr.List
	host, port, err := splitListen(c.Listen)
	if err != nil {
		errs.Add("admin.listen", "%v", err)
	} else if whost, wport, werr := splitListen(webhooksListen); werr == nil && port == wport && port != 0 && hostsOverlap(host, whost) {
		errs.Add("admin.listen", "%q is the port of webhooks.listen (%q); the admin listener needs its own, for example 127.0.0.1:9090", c.Listen, webhooksListen)
	}
	switch {
	case metricsPath == "/healthz":
		errs.Add("metrics.path", "%q is the admin listener's health check; use /metrics", metricsPath)
	case c.Pprof && strings.HasPrefix(metricsPath, "/debug/pprof"):
		errs.Add("metrics.path", "%q is under /debug/pprof/, served by admin.pprof; use /metrics", metricsPath)
	case !strings.HasPrefix(metricsPath, "/"):
		errs.Add("metrics.path", "%q: must start with /", clip(metricsPath, maxEchoValue))
	default:
		if err := c.checkMount(metricsPath); err != nil {
			errs.Add("metrics.path", "%v", err)
		}
	}
	return errs
}

// checkMount builds the admin mux as NewAdmin will, so that a metrics path
// it would panic on (a malformed pattern, a clash) is refused up front.
func (c AdminConfig) checkMount(metricsPath string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			// The mux explains a clash over several lines; one problem is one line.
			why := strings.Join(strings.Fields(fmt.Sprint(r)), " ")
			err = fmt.Errorf("%q cannot be served next to the admin listener's routes (%s); use a plain path such as /metrics", clip(metricsPath, maxEchoValue), why)
		}
	}()
	NewAdmin(c, metricsPath, http.NotFoundHandler(), nil)
	return nil
}

// splitListen parses host:port with a numeric port in 0-65535.
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port (%v); for example 127.0.0.1:9090, or :9090 for every interface", clip(addr, maxEchoValue), err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: the port must be a number 0-65535", clip(addr, maxEchoValue))
	}
	return host, port, nil
}

// LoopbackListen reports whether a listen address binds loopback only
// (127.0.0.0/8, ::1 or localhost); ":9090" and "0.0.0.0:9090" bind every
// interface.
func LoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostsOverlap reports whether listeners on hosts a and b with the same
// port would collide: the same host, or either on every interface.
func hostsOverlap(a, b string) bool {
	all := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return a == b || all(a) || all(b)
}

// Admin is the admin listener: metrics, /healthz and optionally pprof.
type Admin struct {
	cfg AdminConfig
	log *slog.Logger
	mux *http.ServeMux
}

// NewAdmin returns the admin listener; metrics (nil for none) is served
// at metricsPath.
func NewAdmin(cfg AdminConfig, metricsPath string, metrics http.Handler, log *slog.Logger) *Admin {
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Admin{cfg: cfg, log: log, mux: http.NewServeMux()}
	if metrics != nil {
		a.mux.Handle("GET "+metricsPath, metrics)
	}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if cfg.Pprof {
		// GET only: nothing on the admin listener changes state.
		a.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		a.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		a.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		a.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		a.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return a
}

// Mount serves h under pattern (the console under /console/).
func (a *Admin) Mount(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// Handler returns the admin mux.
func (a *Admin) Handler() http.Handler { return a.mux }

// Run serves on admin.listen until ctx ends.
func (a *Admin) Run(ctx context.Context) error {
	// WriteTimeout leaves room for a 30 s CPU profile.
	hs := &http.Server{Addr: a.cfg.Listen, Handler: a.mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", hs.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set admin.listen to a free address)", hs.Addr, err)
	}
	a.log.Info("admin listening", slog.String("addr", ln.Addr().String()), slog.Bool("pprof", a.cfg.Pprof))
	if !LoopbackListen(a.cfg.Listen) {
		a.log.Warn("the admin listener is reachable beyond this machine: metrics (and profiling when admin.pprof is on) are served without authentication; bind it to 127.0.0.1 or firewall it",
			slog.String("addr", ln.Addr().String()), slog.Bool("pprof", a.cfg.Pprof))
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve admin: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down admin: %w", err)
	}
	return nil
}
