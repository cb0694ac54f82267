package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/scheduler"
)

// serveFlags are serve's own flags.
type serveFlags struct {
	webhooks, worker, scheduler bool
	emulator                    bool
	emulatorPort                int
}

func (a *app) serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := a.newFlagSet("serve", "",
		`Run cdnpurge: the webhook receivers (with /healthz, /readyz and /metrics), the
worker that batches, gates and submits jobs and follows their tasks, the quota
mirror, the scheduler and the service checker. Split roles across processes
with --webhooks=false, --worker=false or --scheduler=false.

Without nats.url an embedded NATS server runs on nats.embedded (127.0.0.1:4333).
Without redis.url the quota mirror lives in memory (one replica only).
--emulator (or cdn.emulator: true) runs an in-process CDN API emulator and
calls it instead of the real API: nothing real is purged.`,
		`  cdnpurge serve --emulator --log-format text
  cdnpurge --config /etc/cdnpurge.yaml serve
  cdnpurge --config /etc/cdnpurge.yaml serve --webhooks=false   # a worker-only replica`, stderr)
	var f serveFlags
	fs.BoolVar(&f.webhooks, "webhooks", true, "serve the webhook receivers")
	fs.BoolVar(&f.worker, "worker", true, "run the worker, quota mirror and service checker")
	fs.BoolVar(&f.scheduler, "scheduler", true, "run the scheduler (publishes schedule ticks)")
	fs.BoolVar(&f.emulator, "emulator", false, "call an in-process CDN API emulator instead of the real API")
	fs.IntVar(&f.emulatorPort, "emulator-port", 0, "`PORT` of the emulator on 127.0.0.1 (0 picks a free one)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	if !f.webhooks && !f.worker && !f.scheduler {
		return usagef("serve: every role is off; keep at least one of --webhooks, --worker, --scheduler")
	}
	if f.emulator {
		a.env[config.EnvName("cdn.emulator")] = "true"
	}
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	sv := &daemon{setup: s, flags: f, started: time.Now()}
	defer sv.close()
	if err := sv.start(ctx); err != nil {
		return err
	}
	defer sv.announce()()
	return sv.wait(ctx)
}

// daemon holds what serve started, to stop it in order.
type daemon struct {
	*setup
	flags   serveFlags
	started time.Time

	emu *cdnemu.Server
	ns  *server.Server
	nc  *nats.Conn
	ctl *control

	// Components in shutdown order: HTTP first, then the worker, the
	// scheduler, the checker and the quota mirror.
	parts []*part
	errc  chan error
}

// part is one running component.
type part struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

// spawn runs fn until its own context is cancelled; an early end with an
// error stops the whole server.
func (sv *daemon) spawn(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &part{name: name, cancel: cancel, done: make(chan error, 1)}
	sv.parts = append(sv.parts, p)
	go func() {
		err := fn(ctx)
		p.done <- err
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("stopped")
			}
			sv.errc <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

func (sv *daemon) start(ctx context.Context) error {
	cfg, log := sv.cfg, sv.log
	sv.errc = make(chan error, 16)
	if cfg.CDN.Emulator {
		if err := sv.startEmulator(); err != nil {
			return err
		}
	}
	natsURL := cfg.NATS.URL
	if natsURL == "" {
		ns, u, err := jobs.RunEmbedded(cfg.EmbeddedOptions(log))
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		sv.ns, natsURL = ns, u
		dir, _ := filepath.Abs(cfg.NATS.Embedded.StoreDir)
		log.Info("embedded NATS running", slog.String("url", u), slog.String("store_dir", dir),
			slog.String("hint", "jobs survive restarts only if this directory does; set nats.url to use your own NATS"))
	}
	nc, err := jobs.Connect(natsURL, cfg.NATS.Name, log)
	if err != nil {
		return err
	}
	sv.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	subj, err := cfg.Subjects()
	if err != nil {
		return err
	}
	if _, err := jobs.EnsureStream(ctx, js, cfg.StreamConfig(subj)); err != nil {
		return fmt.Errorf("work stream: %w", err)
	}
	if _, err := jobs.EnsureStatusStream(ctx, js, cfg.StatusStreamConfig(subj)); err != nil {
		return fmt.Errorf("status stream: %w", err)
	}
	validator, err := jobs.NewValidator(cfg.ValidatorConfig())
	if err != nil {
		return fmt.Errorf("domains: %w", err)
	}
	pub, err := jobs.NewPublisher(nc, cfg.PublisherConfig(subj))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	client, err := sv.apiClient(apiclient.NewMetrics(reg).Observe)
	if err != nil {
		return err
	}
	if err := sv.openControl(ctx, js, reg); err != nil {
		return err
	}

	var states scheduler.StateStore
	if sv.flags.worker || sv.flags.scheduler {
		kv, err := scheduler.OpenKVStateStore(ctx, js, "", cfg.NATS.Replicas)
		if err != nil {
			return fmt.Errorf("schedule state bucket: %w", err)
		}
		states = kv
	}

	if sv.flags.webhooks {
		if err := sv.startWebhooks(reg, validator, pub, nc); err != nil {
			return err
		}
	} else if !cfg.Metrics.Disabled {
		sv.startMetricsOnly(reg)
	}
	if sv.flags.worker {
		if err := sv.startWorker(ctx, reg, js, subj, validator, client, states); err != nil {
			return err
		}
	}
	if sv.flags.scheduler && len(cfg.Schedules) > 0 {
		sch, err := scheduler.New(scheduler.Config{Schedules: cfg.Schedules, Publisher: pub, State: states, Logger: log})
		if err != nil {
			return fmt.Errorf("schedules: %w", err)
		}
		sv.spawn("scheduler", sch.Run)
	}
	log.Info("cdnpurge serving", slog.String("version", version), slog.Bool("webhooks", sv.flags.webhooks),
		slog.Bool("worker", sv.flags.worker), slog.Bool("scheduler", sv.flags.scheduler),
		slog.String("cdn_endpoint", client.Endpoint()), slog.String("config", cfg.Source()))
	return nil
}

func (sv *daemon) startEmulator() error {
	cr := sv.cfg.CDN.Credentials
	e, err := cdnemu.New(cdnemu.Options{AccessKeyID: cr.AccessKeyID, AccessKeySecret: cr.AccessKeySecret.Value(), Domains: sv.cfg.Domains})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sv.flags.emulatorPort)
	srv, err := cdnemu.Serve(e, addr)
	if err != nil {
		return fmt.Errorf("emulator on %s: %w (pick another --emulator-port)", addr, err)
	}
	sv.emu = srv
	sv.cfg.CDN.Endpoint, sv.cfg.CDN.DCDNEndpoint = srv.URL, srv.URL
	sv.log.Warn("CDN API EMULATOR IN USE: no real CDN is being called and nothing is purged",
		slog.String("emulator", srv.URL), slog.Any("domains", sv.cfg.Domains))
	return nil
}

func (sv *daemon) startWebhooks(reg *prometheus.Registry, v *jobs.Validator, pub *jobs.Publisher, nc *nats.Conn) error {
	m, err := webhooks.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("webhook metrics: %w", err)
	}
	ready := []webhooks.ReadyCheck{webhooks.NATSReady(nc), sv.ctl.readyCheck()}
	rdb, err := sv.redisClient()
	if err != nil {
		return err
	}
	if rdb != nil {
		ready = append(ready, webhooks.ReadyCheck{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
	deps := webhooks.Deps{Validator: v, Publisher: pub, Logger: sv.log, Metrics: m, Ready: ready}
	srv, err := webhooks.New(sv.cfg.WebhooksConfig(), deps)
	if err != nil {
		return err
	}
	if !sv.cfg.Metrics.Disabled {
		srv.Handle("GET "+sv.cfg.Metrics.Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	}
	sv.spawn("webhooks", srv.Run)
	return nil
}

// startMetricsOnly serves /metrics and /healthz on webhooks.listen for a
// process without the webhook role.
func (sv *daemon) startMetricsOnly(reg *prometheus.Registry) {
	mux := http.NewServeMux()
	mux.Handle("GET "+sv.cfg.Metrics.Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) })
	hs := &http.Server{Addr: sv.cfg.Webhooks.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	sv.spawn("metrics", func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- hs.ListenAndServe() }()
		sv.log.Info("metrics listening", slog.String("addr", hs.Addr), slog.String("path", sv.cfg.Metrics.Path))
		select {
		case err := <-errc:
			return fmt.Errorf("listen on %s: %w (set webhooks.listen to a free address)", hs.Addr, err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
}

func (sv *daemon) startWorker(ctx context.Context, reg *prometheus.Registry, js jetstream.JetStream, subj jobs.Subjects,
	v *jobs.Validator, client *apiclient.Client, states scheduler.StateStore) error {
	cfg, log := sv.cfg, sv.log
	store, shared, _, err := sv.quotaStore()
	if err != nil {
		return err
	}
	if !shared {
		log.Info("quota mirror in memory (no redis.url): run one replica only, or several replicas may together overspend the quota")
	}
	mirror := quota.NewMirror(store, client, cfg.MirrorConfig(log))
	reg.MustRegister(quota.NewCollector(mirror))
	tasks, err := worker.OpenKVStore(ctx, js, cfg.Worker.TaskBucket, cfg.NATS.Replicas)
	if err != nil {
		return fmt.Errorf("task bucket %s: %w", cfg.Worker.TaskBucket, err)
	}
	var recent quota.Recent
	if wcfg := cfg.WorkerConfig(); wcfg.RecentWindow > 0 {
		rdb, err := sv.redisClient()
		if err != nil {
			return err
		}
		if rdb != nil {
			recent = quota.NewRedisRecent(rdb, cfg.Redis.KeyPrefix, cfg.QuotaAccount(), wcfg.RecentWindow)
		} else {
			recent = quota.NewMemoryRecent(wcfg.RecentWindow, nil)
		}
	}
	host, _ := os.Hostname()
	w, err := worker.New(cfg.WorkerConfig(), worker.Deps{
		JS: js, Stream: cfg.NATS.Stream, Subjects: subj, Validator: v, API: client,
		Gate: mirror, Syncer: mirror, Store: tasks, Recent: recent,
		Operator: scheduler.NewOperator(client, scheduler.OperatorConfig{State: states, Logger: log}),
		Logger:   log, Metrics: worker.NewMetrics(reg), Name: host + "-" + strconv.Itoa(os.Getpid()),
		Control: sv.ctl.cache,
	})
	if err != nil {
		return err
	}
	checker, err := scheduler.NewServiceChecker(client, w, scheduler.CheckerConfig{Registerer: reg, Logger: log})
	if err != nil {
		return fmt.Errorf("service checker: %w", err)
	}
	if err := sv.startArchiver(ctx, js, subj); err != nil {
		return err
	}
	sv.spawn("worker", w.Run)
	sv.spawn("pause reporter", sv.ctl.reportAutoPauses(w, host+"-"+strconv.Itoa(os.Getpid()), log))
	sv.spawn("service checker", checker.Run)
	sv.spawn("quota mirror", mirror.Run)
	return nil
}

// wait blocks until ctx ends or a component fails, then stops everything.
func (sv *daemon) wait(ctx context.Context) error {
	var cause error
	select {
	case <-ctx.Done():
		sv.log.Info("shutting down", slog.String("signal", context.Cause(ctx).Error()))
	case cause = <-sv.errc:
		sv.log.Error("shutting down after a failure", slog.String("error", cause.Error()))
	}
	return errors.Join(cause, sv.stopParts())
}

// stopParts stops the components one by one in start order: HTTP stops
// accepting first, then the worker finishes its calls, then the rest.
func (sv *daemon) stopParts() error {
	var errs []error
	for _, p := range sv.parts {
		p.cancel()
		if err := <-p.done; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
		}
		sv.log.Debug("stopped", slog.String("part", p.name))
	}
	sv.parts = nil
	return errors.Join(errs...)
}

// close releases NATS, the embedded server, Redis and the emulator.
func (sv *daemon) close() {
	_ = sv.stopParts()
	if sv.nc != nil {
		// Drain flushes acks and status events still buffered.
		if err := sv.nc.Drain(); err == nil {
			for deadline := time.Now().Add(5 * time.Second); !sv.nc.IsClosed() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
		}
		sv.nc.Close()
	}
	if sv.ns != nil {
		sv.ns.Shutdown()
		sv.ns.WaitForShutdown()
	}
	sv.closeRedis()
	if sv.emu != nil {
		sv.emu.Close()
	}
	sv.log.Info("stopped")
}
