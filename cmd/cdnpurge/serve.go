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
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cdnpurge/cdnpurge/admin"
	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/console"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/jobs/spool"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// serveFlags are serve's own flags.
type serveFlags struct {
	webhooks, worker, scheduler bool
	emulator                    bool
	emulatorPort                int
}

func (a *app) serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := a.newFlagSet("serve", "",
		`Run cdnpurge: the webhook receivers (with /healthz and /readyz), the admin
listener (/metrics on admin.listen, 127.0.0.1:9090 by default), the worker that batches, gates and submits jobs and follows their tasks, the quota
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
	// A refused request ends the start at once, naming the permission; once
	// running, refusals are logged and serving goes on.
	startCtx, stopStart := context.WithCancelCause(ctx)
	defer stopStart(nil)
	var running atomic.Bool
	s.refused = func(pe *queue.PermissionError) {
		s.log.Error("NATS refused a request", slog.String("error", pe.Error()))
		if !running.Load() {
			stopStart(pe)
		}
	}
	sv := &daemon{setup: s, flags: f, started: time.Now()}
	defer sv.close()
	if err := sv.start(startCtx); err != nil {
		var pe *queue.PermissionError
		if errors.As(context.Cause(startCtx), &pe) {
			return fmt.Errorf("serve: %w", pe)
		}
		return err
	}
	running.Store(true)
	defer sv.announce()()
	return sv.wait(ctx)
}

// daemon holds what serve started, to stop it in order.
type daemon struct {
	*setup
	flags   serveFlags
	started time.Time

	emu  *cdnemu.Server
	ns   *server.Server
	nc   *nats.Conn
	lock *embedded.StoreLock
	sup  *queue.Supervisor
	ctl  *control
	// history keeps every job's record (kind, source, paths, tasks).
	history *worker.History
	// console is the web console on the admin listener (console.go).
	console *console.Console

	// before and lost: the embedded store before the start, and the
	// streams the restart lost (store.go).
	before embedded.Before
	lost   []embedded.Loss
	// health watches the embedded store's writes and free space.
	health      *embedded.Health
	storeGauges *prometheus.GaugeVec

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
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if cfg.NATS.URL == "" {
		// Before anything starts: a second serve on the same store must
		// not open the first one's JetStream files.
		lock, err := embedded.LockStoreDir(cfg.NATS.Embedded.StoreDir)
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		sv.lock = lock
		if err := sv.surveyStore(); err != nil {
			return err
		}
	}
	if cfg.CDN.Emulator {
		if err := sv.startEmulator(); err != nil {
			return err
		}
	}
	natsURL := cfg.NATS.URL
	if natsURL == "" {
		opts := cfg.EmbeddedOptions(log)
		sv.newStoreHealth(&opts)
		ns, u, err := embedded.Run(opts)
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		sv.ns, natsURL = ns, u
		dir, _ := filepath.Abs(cfg.NATS.Embedded.StoreDir)
		log.Info("embedded NATS running", slog.String("url", u), slog.String("store_dir", dir),
			slog.String("hint", "jobs survive restarts only if this directory does; set nats.url to use your own NATS"))
	}
	nc, err := sv.dialNATS(natsURL, cfg.NATS.Name)
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
	if sv.ns != nil {
		sv.checkRestart(ctx, js)
		if err := embedded.MarkRunning(cfg.NATS.Embedded.StoreDir, cfg.NATS.Embedded.SyncInterval); err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
	}
	if _, err := queue.EnsureStream(ctx, js, cfg.StreamConfig(subj)); err != nil {
		return fmt.Errorf("work stream: %w", err)
	}
	if _, err := queue.EnsureStatusStream(ctx, js, cfg.StatusStreamConfig(subj)); err != nil {
		return fmt.Errorf("status stream: %w", err)
	}
	recreated := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_jetstream_recreated_total",
		Help: "JetStream streams (key-value buckets included) and consumers found missing and re-created, by kind."}, []string{"kind"})
	recreated.WithLabelValues("stream").Add(float64(len(sv.lost)))
	sv.sup = queue.NewSupervisor(js, queue.SupervisorConfig{Logger: log, OnRecreate: func(kind, _ string) { recreated.WithLabelValues(kind).Inc() }})
	sv.sup.WatchStream(cfg.StreamConfig(subj).JetStreamConfig())
	sv.sup.WatchStream(queue.UrgentStreamConfig(cfg.StreamConfig(subj)))
	if err := sv.sup.WatchExisting(ctx, cfg.NATS.StatusStream); err != nil {
		return err
	}
	if sv.flags.worker || sv.flags.scheduler {
		if _, err := queue.EnsureSchedStream(ctx, js, cfg.StreamConfig(subj)); err != nil {
			return fmt.Errorf("tick stream: %w", err)
		}
		sv.sup.WatchStream(queue.SchedStreamConfig(cfg.StreamConfig(subj)))
	}
	validator, err := jobs.NewValidator(cfg.ValidatorConfig())
	if err != nil {
		return fmt.Errorf("domains: %w", err)
	}
	pcfg := cfg.PublisherConfig(subj)
	if sv.health != nil {
		pcfg.Writable = sv.health.Writable
	}
	pub, err := queue.NewPublisher(nc, pcfg)
	if err != nil {
		return err
	}
	// Producers may use the idempotency bucket but not create it.
	if err := pub.OpenIdempotencyBucket(ctx); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), recreated,
		webhooks.NewNATSServerInfo(nc))
	if sv.storeGauges != nil {
		reg.MustRegister(sv.storeGauges)
	}
	client, err := sv.apiClient(apiclient.NewMetrics(reg).Observe)
	if err != nil {
		return err
	}
	if err := sv.openControl(ctx, js, reg); err != nil {
		return err
	}

	var states operations.StateStore
	if sv.flags.worker || sv.flags.scheduler {
		kv, err := operations.OpenKVStateStore(ctx, js, "", cfg.NATS.Replicas)
		if err != nil {
			return fmt.Errorf("schedule state bucket: %w", err)
		}
		states = kv
		if err := sv.sup.WatchExisting(ctx, "KV_"+operations.DefaultStateBucket); err != nil {
			return err
		}
	}

	if err := sv.startConsole(ctx, nc, js, subj, pub, states); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	sv.startAdmin(reg)
	if sv.flags.webhooks {
		if err := sv.startWebhooks(ctx, reg, js, validator, pub, nc); err != nil {
			return err
		}
	} else {
		sv.startHealthOnly()
	}
	if sv.flags.worker {
		if err := sv.startWorker(ctx, reg, js, subj, validator, client, states); err != nil {
			return err
		}
	}
	if sv.flags.scheduler && len(cfg.Schedules) > 0 {
		sch, err := operations.New(operations.Config{Schedules: cfg.Schedules, Publisher: pub, State: states, Logger: log})
		if err != nil {
			return fmt.Errorf("schedules: %w", err)
		}
		sv.spawn("scheduler", sch.Run)
	}
	sv.spawn("jetstream supervisor", sv.sup.Run)
	if sv.ns != nil {
		sv.spawn("stream marks", sv.recordMarks(js))
		sv.spawn("store health", sv.health.Run)
	}
	log.Info("cdnpurge serving", slog.String("version", version), slog.Bool("webhooks", sv.flags.webhooks),
		slog.Bool("worker", sv.flags.worker), slog.Bool("scheduler", sv.flags.scheduler),
		slog.String("cdn_endpoint", client.Endpoint()), slog.String("config", cfg.Source()))
	return nil
}

func (sv *daemon) startEmulator() error {
	cr := sv.cfg.CDN.Credentials.Static
	// The emulated account serves each domain on the product the config
	// names for it.
	var cdnDomains, dcdnDomains []string
	for _, d := range sv.cfg.Allowlist {
		switch d.Product {
		case apiclient.ProductDCDN:
			dcdnDomains = append(dcdnDomains, d.Name)
		case apiclient.ProductESA:
		default:
			cdnDomains = append(cdnDomains, d.Name)
		}
	}
	if len(sv.cfg.Allowlist) == 0 {
		cdnDomains = sv.cfg.DomainNames()
	}
	if len(cdnDomains) == 0 && len(dcdnDomains) == 0 {
		cdnDomains = []string{cdnemu.DefaultDomain} // ESA sites only: the emulator's CDN keeps its default
	}
	e, err := cdnemu.New(cdnemu.Options{AccessKeyID: cr.AccessKeyID, AccessKeySecret: cr.AccessKeySecret.Value(),
		Domains: cdnDomains, DCDNDomains: dcdnDomains, ESASites: emulatorESASites(sv.cfg)})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sv.flags.emulatorPort)
	srv, err := cdnemu.Serve(e, addr)
	if err != nil {
		return fmt.Errorf("emulator on %s: %w (pick another --emulator-port)", addr, err)
	}
	sv.emu = srv
	sv.cfg.CDN.Endpoint, sv.cfg.CDN.DCDNEndpoint, sv.cfg.CDN.STSEndpoint = srv.URL, srv.URL, srv.URL
	sv.cfg.CDN.ESAEndpoint = srv.URL
	sv.log.Warn("CDN API EMULATOR IN USE: no real CDN is being called and nothing is purged",
		slog.String("emulator", srv.URL), slog.Any("domains", cdnDomains), slog.Any("dcdn_domains", dcdnDomains),
		slog.Any("esa_sites", emulatorESASites(sv.cfg)))
	return nil
}

func (sv *daemon) startWebhooks(ctx context.Context, reg *prometheus.Registry, js jetstream.JetStream, v *jobs.Validator, pub *queue.Publisher, nc *nats.Conn) error {
	m, err := webhooks.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("webhook metrics: %w", err)
	}
	// The consumer is this process's to re-create only with the worker
	// role; a webhook-only replica accepts jobs while no worker runs.
	consumer := ""
	if sv.flags.worker {
		consumer = sv.cfg.Worker.Consumer
	}
	ready := []webhooks.ReadyCheck{webhooks.NATSReady(nc), webhooks.JetStreamReady(nc, sv.cfg.NATS.Stream, consumer), sv.ctl.readyCheck()}
	if sv.health != nil {
		ready = append(ready, sv.storeReady())
	}
	if len(sv.lost) > 0 {
		ready = append(ready, sv.historyReady())
	}
	rdb, err := sv.redisClient()
	if err != nil {
		return err
	}
	if rdb != nil {
		ready = append(ready, webhooks.ReadyCheck{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
	wcfg := sv.cfg.WebhooksConfig()
	deps := webhooks.Deps{Validator: v, Publisher: pub, Logger: sv.log, Metrics: m, Ready: ready}
	if sv.cfg.NATS.URL != "" && wcfg.SpoolDir != webhooks.SpoolOff {
		// An outside NATS: a hook the queue cannot take within the
		// publish budget (a leader election) waits on this host's disk.
		dir := wcfg.SpoolDir
		if dir == "" {
			dir = filepath.Join(sv.cfg.NATS.Embedded.StoreDir, "spool")
		}
		sp, err := spool.Open(pub, spool.Config{Dir: dir, MaxBytes: wcfg.SpoolMaxBytes, Logger: sv.log})
		if err != nil {
			return err
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cdnpurge_spool_requests",
			Help: "Hook requests waiting in webhooks.spool_dir for the queue to take them."},
			func() float64 { return float64(sp.Len()) }))
		sv.spawn("spool", func(ctx context.Context) error { sp.Run(ctx); return errors.Join(ctx.Err(), sp.Close()) })
		deps.Publisher = sp
	}
	if wcfg.GenericHMACSecret != "" {
		replay, err := webhooks.OpenReplayGuard(ctx, js, wcfg.ReplayBucket, sv.cfg.NATS.Replicas, wcfg.MaxSkew)
		if err != nil {
			return fmt.Errorf("replay bucket: %w", err)
		}
		bucket := wcfg.ReplayBucket
		if bucket == "" {
			bucket = webhooks.DefaultReplayBucket
		}
		if err := sv.sup.WatchExisting(ctx, "KV_"+bucket); err != nil {
			return err
		}
		deps.Replay = replay
	}
	if wcfg.OSSToken != "" {
		seen, err := webhooks.OpenOSSSeen(ctx, js, sv.cfg.NATS.Replicas, wcfg.OSSDedupeWindow)
		if err != nil {
			return fmt.Errorf("oss events bucket: %w", err)
		}
		if err := sv.sup.WatchExisting(ctx, "KV_"+webhooks.DefaultOSSBucket); err != nil {
			return err
		}
		deps.OSSSeen = seen
	}
	srv, err := webhooks.New(wcfg, deps)
	if err != nil {
		return err
	}
	sv.spawn("webhooks", srv.Run)
	return nil
}

// startAdmin serves /metrics (and pprof when admin.pprof is set) on
// admin.listen, in every role; never on the webhook listener.
func (sv *daemon) startAdmin(reg *prometheus.Registry) {
	var metrics http.Handler
	if !sv.cfg.Metrics.Disabled {
		metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	}
	adm := admin.NewAdmin(sv.cfg.Admin, sv.cfg.Metrics.Path, metrics, sv.log)
	if sv.console != nil {
		adm.Mount(console.Prefix, sv.console.Handler())
	}
	sv.spawn("admin", adm.Run)
}

// startHealthOnly serves /healthz on webhooks.listen for a process without
// the webhook role, so that the same probes work for every role.
func (sv *daemon) startHealthOnly() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"status":"ok"}`) })
	hs := &http.Server{Addr: sv.cfg.Webhooks.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	sv.spawn("health", func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- hs.ListenAndServe() }()
		sv.log.Info("health listening", slog.String("addr", hs.Addr))
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
	v *jobs.Validator, client *apiclient.Client, states operations.StateStore) error {
	cfg, log := sv.cfg, sv.log
	if err := sv.resolveESASites(ctx, client); err != nil {
		return err
	}
	targets, mirrors, shared, _, err := sv.purgeTargets(client)
	if err != nil {
		return err
	}
	if !shared {
		log.Info("quota mirror in memory (no redis.url): run one replica only, or several replicas may together overspend the quota")
	}
	reg.MustRegister(quota.NewCollector(mirrors...))
	if sh, ok := targets[apiclient.ProductCDN].Shares.(*quota.Shares); ok {
		reg.MustRegister(quota.NewShareCollector(sh))
	}
	sv.consoleQuota(mirrors)
	productOf, err := sv.productOf()
	if err != nil {
		return err
	}
	// CDN's target is the worker's own API and gate; absent (nil gate)
	// when every domain is DCDN's.
	cdn := targets[apiclient.ProductCDN]
	delete(targets, apiclient.ProductCDN)
	tasks, err := worker.OpenKVStore(ctx, js, cfg.Worker.TaskBucket, cfg.NATS.Replicas)
	if err != nil {
		return fmt.Errorf("task bucket %s: %w", cfg.Worker.TaskBucket, err)
	}
	if err := sv.sup.WatchExisting(ctx, "KV_"+cfg.Worker.TaskBucket); err != nil {
		return err
	}
	var recent worker.Recent
	if wcfg := cfg.WorkerConfig(); wcfg.RecentWindow > 0 {
		rdb, err := sv.redisClient()
		if err != nil {
			return err
		}
		if rdb != nil {
			recent = worker.NewRedisRecent(rdb, cfg.Redis.KeyPrefix, cfg.QuotaAccount(), wcfg.RecentWindow)
		} else {
			recent = worker.NewMemoryRecent(wcfg.RecentWindow, nil)
		}
	}
	host, _ := os.Hostname()
	// Operations run only as ticks of this replica's own schedules, built
	// from its config (docs/security.md).
	ticks, err := operations.NewAuthority(operations.AuthorityConfig{Schedules: cfg.Schedules, Allowlist: v, State: states})
	if err != nil {
		return err
	}
	wm := worker.NewMetrics(reg)
	wm.KnownActions(operations.KnownActions()...)
	if err := sv.openHistory(ctx, js); err != nil {
		return err
	}
	w, err := worker.New(cfg.WorkerConfig(), worker.Deps{
		JS: js, Stream: cfg.NATS.Stream, Subjects: subj, Validator: v, API: client,
		Gate: cdn.Gate, Syncer: cdn.Syncer, Shares: cdn.Shares, Targets: targets, ProductOf: productOf, Store: tasks, Recent: recent,
		Operator: operations.NewOperator(client, operations.OperatorConfig{State: states, Allowlist: v, Logger: log}),
		Ticks:    ticks,
		Logger:   log, Metrics: wm, Name: host + "-" + strconv.Itoa(os.Getpid()),
		Control: sv.ctl.cache, History: sv.history,
	})
	if err != nil {
		return err
	}
	sv.sup.WatchConsumer(cfg.NATS.Stream, w.ConsumerConfig())
	sv.sup.WatchConsumer(queue.UrgentStreamName(cfg.NATS.Stream), w.ConsumerConfig())
	sv.sup.WatchConsumer(queue.SchedStreamName(cfg.NATS.Stream), w.ConsumerConfig())
	checker, err := operations.NewServiceChecker(client, w, operations.CheckerConfig{Registerer: reg, Logger: log})
	if err != nil {
		return fmt.Errorf("service checker: %w", err)
	}
	if err := sv.startArchiver(ctx, js, subj); err != nil {
		return err
	}
	sv.spawn("worker", w.Run)
	sv.spawn("pause reporter", sv.ctl.reportAutoPauses(w, host+"-"+strconv.Itoa(os.Getpid()), log))
	sv.spawn("service checker", checker.Run)
	for _, m := range mirrors {
		sv.spawn(fmt.Sprintf("%s quota mirror", m.Target()), m.Run)
	}
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
		if err := embedded.FlushStore(sv.cfg.NATS.Embedded.StoreDir); err != nil {
			sv.log.Warn("could not flush the store after the stop", slog.String("error", err.Error()))
		} else if err := embedded.MarkStopped(sv.cfg.NATS.Embedded.StoreDir); err != nil {
			sv.log.Warn("could not record the clean stop", slog.String("error", err.Error()))
		}
	}
	_ = sv.lock.Unlock()
	sv.closeRedis()
	if sv.emu != nil {
		sv.emu.Close()
	}
	sv.log.Info("stopped")
}
