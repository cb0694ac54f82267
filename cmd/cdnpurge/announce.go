package main

import (
	"log/slog"
	"net"
	"os"

	"github.com/cdnpurge/cdnpurge/admin"
	"github.com/cdnpurge/cdnpurge/webhooks"
)

// announce logs what serve has on (hook endpoints, the metrics address)
// and writes the state file commands run beside it read (state.go). The
// returned function removes the file again.
func (sv *daemon) announce() func() {
	cfg, log := sv.cfg, sv.log
	st := serveState{PID: os.Getpid(), Version: version, StartedAt: sv.started, Emulator: cfg.CDN.Emulator}
	if sv.ns != nil {
		st.NATSURL = sv.ns.ClientURL()
	}
	st.HistoryLost = sv.historyLost()
	if cfg.CDN.Emulator {
		st.CDNEndpoint = cfg.CDN.Endpoint
	}
	st.HTTPAddr = dialAddr(cfg.Webhooks.Listen) // hooks, or /healthz alone without the webhook role
	st.AdminAddr = dialAddr(cfg.Admin.WithDefaults().Listen)
	if sv.flags.webhooks {
		var on, off []string
		for _, h := range webhooks.Hooks(cfg.WebhooksConfig()) {
			if h.Enabled {
				on = append(on, h.Path)
				st.Hooks = append(st.Hooks, h.Path)
			} else {
				off = append(off, h.Path+" (set "+h.Setting+")")
			}
		}
		log.Info("webhook endpoints", slog.String("addr", cfg.Webhooks.Listen), slog.Any("enabled", on), slog.Any("disabled", off))
		if len(on) == 0 {
			log.Warn("no webhook endpoint is enabled; jobs come only from NATS and the CLI",
				slog.String("hint", "set webhooks.generic_token, webhooks.github_secret, webhooks.gitlab_token or webhooks.oss_token"))
		}
	}
	if cfg.Metrics.Disabled {
		log.Info("metrics disabled (metrics.disabled)")
	} else {
		// The URL as bound: ":9090" and "0.0.0.0:9090" serve every
		// interface, not 127.0.0.1 alone.
		listen := cfg.Admin.WithDefaults().Listen
		if host, port, err := net.SplitHostPort(listen); err == nil && host == "" {
			listen = net.JoinHostPort("0.0.0.0", port)
		}
		log.Info("metrics on the admin listener", slog.String("url", "http://"+listen+cfg.Metrics.Path),
			slog.Bool("loopback_only", admin.LoopbackListen(listen)))
	}
	dir := cfg.NATS.Embedded.StoreDir
	remove, err := writeServeState(dir, st)
	if err != nil {
		log.Warn("commands on this machine will not find this serve", slog.String("error", err.Error()))
		return func() {}
	}
	log.Debug("state file written", slog.String("file", statePath(dir)))
	return remove
}

// dialAddr turns a listen address into one a client on this machine can
// dial: ":8080" and "0.0.0.0:8080" become "127.0.0.1:8080".
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
