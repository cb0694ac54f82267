// Package worker turns queued jobs into the fewest API calls the limits
// allow: it batches paths, gates each batch on the quota mirror, submits it
// with retries, acknowledges jobs only once their paths were accepted, and
// follows every task until the CDN reports it done.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
)

// API is what the worker needs of the API client, each call on the
// target it is given; *apiclient.Client satisfies it for every product.
type API interface {
	Refresh(ctx context.Context, t apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error)
	Push(ctx context.Context, t apiclient.Target, r apiclient.PushRequest) (apiclient.PushResult, error)
	// RefreshByCacheTag refreshes cache tags of one domain (tags.go).
	RefreshByCacheTag(ctx context.Context, t apiclient.Target, r apiclient.TagRequest) (apiclient.RefreshResult, error)
	TaskAPI
}

// Gate is the quota mirror a batch reserves from before its call.
type Gate interface {
	Reserve(ctx context.Context, kind quota.Kind, n int64) (quota.Reservation, error)
	Commit(ctx context.Context, r quota.Reservation, used int64) error
	Refund(ctx context.Context, r quota.Reservation) error
	Extend(ctx context.Context, r quota.Reservation, d time.Duration) error
}

// Syncer re-reads the quota from the API; the worker calls it when the API
// says the quota is spent although the mirror granted it.
type Syncer interface {
	SyncNow(ctx context.Context) error
}

// Operator runs operation jobs (scheduled service and domain changes). It
// returns an error whose apiclient class steers a retry.
type Operator interface {
	Run(ctx context.Context, j *jobs.Job) error
}

// DefaultConsumer is the durable consumer the replicas share by default.
const DefaultConsumer = "cdnpurge-worker"

// DefaultRecentWindow is worker.recent_window when the configuration
// leaves it out: long enough for a backlog to drain behind the calls that
// cover its copies; a record is one key a path, so the window's memory is
// bounded by what the quota lets through in it.
const DefaultRecentWindow = time.Hour

// Config tunes the worker. Zero values take the defaults.
type Config struct {
	// Consumer is the durable JetStream consumer shared by replicas.
	Consumer string `yaml:"consumer" json:"consumer"`
	// Linger is how long a batch that is not full waits for more paths.
	Linger time.Duration `yaml:"linger" json:"linger"`
	Limits Limits        `yaml:"limits" json:"limits"`
	// Submitters is how many batches are sent at once.
	Submitters int `yaml:"submitters" json:"submitters"`
	// MaxInflightPaths stops pulling while this many paths are unsettled.
	MaxInflightPaths int `yaml:"max_inflight_paths" json:"max_inflight_paths"`
	// AckWait is the consumer's ack deadline; in-flight messages are
	// extended with InProgress every AckWait/3.
	AckWait time.Duration `yaml:"ack_wait" json:"ack_wait"`
	// MaxAckPending bounds unacknowledged messages per consumer.
	MaxAckPending int `yaml:"max_ack_pending" json:"max_ack_pending"`
	// QuotaHold is how long a batch waits in memory for quota before its
	// jobs are handed back with a delay.
	QuotaHold time.Duration `yaml:"quota_hold" json:"quota_hold"`
	// QuotaPoll is how often a waiting batch asks the mirror again.
	QuotaPoll time.Duration `yaml:"quota_poll" json:"quota_poll"`
	// DeferMax is the longest a handed-back job waits before redelivery,
	// even when the quota resets later: the mirror may learn of more
	// quota (a raised limit) before then.
	DeferMax time.Duration `yaml:"defer_max" json:"defer_max"`
	// RetryDelay is the redelivery delay of a batch the API did not take
	// (unreachable, throttled past the retry policy).
	RetryDelay time.Duration `yaml:"retry_delay" json:"retry_delay"`
	// PauseFor is how long submissions stop after an account or
	// credentials error before they are tried again.
	PauseFor time.Duration `yaml:"pause_for" json:"pause_for"`
	// RecentWindow, when set, is how long the record of what was sent
	// when is kept: a path asked for before a call of it was sent, which
	// the API accepted within this window, is covered by that call and
	// not paid again (a copy in the backlog, on another replica, after a
	// restart). A path asked for after the call is always sent again.
	// The service's configuration sets DefaultRecentWindow when the field
	// is absent; 0 is off.
	RecentWindow time.Duration `yaml:"recent_window" json:"recent_window"`
	// Collapse, when enabled, refreshes many URLs of one directory as one
	// Directory refresh (see CollapseConfig for the trade-off).
	Collapse CollapseConfig `yaml:"collapse" json:"collapse"`
	// ShutdownGrace bounds the time spent finishing calls at shutdown.
	ShutdownGrace time.Duration `yaml:"shutdown_grace" json:"shutdown_grace"`
	// Location is the quota day's zone; Asia/Shanghai when nil.
	Location *time.Location `yaml:"-" json:"-"`
	Tracker  TrackerConfig  `yaml:"tracker" json:"tracker"`

	// pullBatch is the most messages one fetch takes; orderedBatch when 0.
	// Tests lower it to share a backlog between replicas.
	pullBatch int
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.Linger == 0 {
		c.Linger = time.Second
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Submitters == 0 {
		c.Submitters = 16
	}
	if c.MaxInflightPaths == 0 {
		c.MaxInflightPaths = 200_000
	}
	if c.AckWait == 0 {
		c.AckWait = time.Minute
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 50_000
	}
	if c.QuotaHold == 0 {
		c.QuotaHold = 30 * time.Second
	}
	if c.QuotaPoll == 0 {
		c.QuotaPoll = time.Second
	}
	if c.DeferMax == 0 {
		c.DeferMax = 10 * time.Minute
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 30 * time.Second
	}
	if c.PauseFor == 0 {
		c.PauseFor = time.Minute
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 20 * time.Second
	}
	if c.Location == nil {
		c.Location = quota.DefaultLocation()
	}
	c.Tracker = c.Tracker.WithDefaults()
	c.Collapse = c.Collapse.WithDefaults()
	return c
}

// Validate reports every problem of c after WithDefaults, in field order,
// each at its field relative to the worker section ("linger"). The config
// package calls it too (adding "worker."), so that config check refuses
// what New refuses.
func (c Config) Validate() fielderr.List {
	var errs fielderr.List
	if c.Consumer == "" || strings.ContainsAny(c.Consumer, " .*>/\\\t") {
		errs.Add("consumer", "%q: want a name without spaces, dots, wildcards or slashes", c.Consumer)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		min  time.Duration
	}{
		{"linger", c.Linger, 1}, {"ack_wait", c.AckWait, 3 * time.Second}, {"quota_hold", c.QuotaHold, 1}, {"quota_poll", c.QuotaPoll, 1},
		{"defer_max", c.DeferMax, 1}, {"retry_delay", c.RetryDelay, 1}, {"pause_for", c.PauseFor, 1}, {"recent_window", c.RecentWindow, 0},
		{"shutdown_grace", c.ShutdownGrace, 1},
		{"tracker.interval", c.Tracker.Interval, 1}, {"tracker.first_poll", c.Tracker.FirstPoll, 1},
		{"tracker.max_poll_interval", c.Tracker.MaxPollInterval, 1}, {"tracker.deadline", c.Tracker.Deadline, 1}, {"tracker.lease", c.Tracker.Lease, 1},
	} {
		switch {
		case d.v < d.min && d.min == 1:
			errs.Add(d.name, "%s: must be > 0", d.v)
		case d.v < d.min && d.min == 0:
			errs.Add(d.name, "%s: must be >= 0 (0 turns it off)", d.v)
		case d.v < d.min:
			errs.Add(d.name, "%s: must be >= %s; in-flight messages are extended every ack_wait/3", d.v, d.min)
		}
	}
	max := DefaultLimits()
	for _, n := range []struct {
		name   string
		v, max int
		hint   string
	}{
		{"submitters", c.Submitters, 1 << 20, ""}, {"max_inflight_paths", c.MaxInflightPaths, 1 << 40, ""}, {"max_ack_pending", c.MaxAckPending, 1 << 40, ""},
		{"tracker.max_per_round", c.Tracker.MaxPerRound, 1 << 20, ""},
		{"limits.urls_per_refresh", c.Limits.URLsPerRefresh, max.URLsPerRefresh, " (the API's per-request cap)"},
		{"limits.dirs_per_refresh", c.Limits.DirsPerRefresh, max.DirsPerRefresh, " (the API's per-request cap)"},
		{"limits.regex_per_refresh", c.Limits.RegexPerRefresh, max.RegexPerRefresh, " (the API's per-request cap)"},
		{"limits.urls_per_push", c.Limits.URLsPerPush, max.URLsPerPush, " (the API's per-request cap)"},
		{"limits.domains_per_refresh", c.Limits.DomainsPerRefresh, max.DomainsPerRefresh, " (the API's per-request cap)"},
		{"limits.tags_per_refresh", c.Limits.TagsPerRefresh, max.TagsPerRefresh, " (cdnpurge's cap on tags per call, docs/wire-format.md)"},
	} {
		if n.v < 1 || n.v > n.max {
			errs.Add(n.name, "%d: want 1-%d%s", n.v, n.max, n.hint)
		}
	}
	errs.Append("collapse", c.Collapse.Validate())
	return errs
}

// Deps are the parts the worker is wired to.
type Deps struct {
	JS        jetstream.JetStream
	Stream    string
	Subjects  jobs.Subjects
	Validator *jobs.Validator
	// API, Gate and Syncer are CDN's: its API client and quota mirror.
	// Gate may be nil when no domain is CDN's (Targets has the others).
	API  API
	Gate Gate
	// Syncer may be nil.
	Syncer Syncer
	// Shares, when set, caps what one job source spends of CDN's day
	// (quota.shares).
	Shares ShareGate
	// Targets are the other products that purge caches (DCDN), each with
	// its own API and quota mirror.
	Targets map[apiclient.Product]TargetDeps
	// ProductOf names the product serving a domain; nil sends every path
	// to CDN.
	ProductOf func(host string) apiclient.Product
	Store     *KVStore
	// Recent may be nil; it is used when Config.RecentWindow is set.
	Recent Recent
	// Operator may be nil; operation jobs then wait.
	Operator Operator
	// Control, if not nil, holds batches back during an operator pause
	// and drops the paths of cancelled jobs (hold.go).
	Control ControlReader
	// History, if not nil, is told of each job the first time it is
	// taken, to keep its record after it finished (history.go).
	History JobRecorder
	Logger  *slog.Logger
	Metrics *Metrics
	// Now is the worker's clock (tests move it across midnight); time.Now
	// when nil. Quota days, the end of every wait (outcome until and
	// recheck, pauses) and so a handed-back job's wake time are read on
	// it; the redelivery delay given to JetStream is the time from Now to
	// that wake time. Timers (linger, quota hold and poll, leases) and
	// the times compared with the stream's timestamps (when a call was
	// sent) use the real clock.
	Now func() time.Time
	// Name identifies this replica in leases and logs.
	Name string

	// Ticks decides which schedule ticks run and builds their jobs from
	// the configuration; nil refuses every tick and operation message.
	Ticks Ticks
	// SchedStream is the tick stream; queue.SchedStreamName(Stream) when
	// empty.
	SchedStream string
}

// TargetDeps are one product's API client and quota mirror.
type TargetDeps struct {
	API  API
	Gate Gate
	// Syncer may be nil.
	Syncer Syncer
	// Shares, when set, caps what one job source spends of the target's
	// day (quota.shares).
	Shares ShareGate
}

// ShareGate caps what the jobs of one source spend of a day's quota kind;
// *quota.Shares is one.
type ShareGate interface {
	// Of names the share a job of source spends kind from, "" for none.
	Of(source string, kind quota.Kind) string
	// Take takes up to n units of share for today.
	Take(ctx context.Context, share string, n int64) (quota.ShareTake, error)
	// Give returns n units a call did not spend.
	Give(ctx context.Context, t quota.ShareTake, n int64) error
}

// Ticks decides whether a schedule tick may run and builds its job from
// the replica's configuration, never from the message;
// *operations.Authority implements it. claimed is the operation section of
// a message on the legacy operations subjects, nil for a tick of the tick
// stream. An error means the message is refused; its text is the reason.
type Ticks interface {
	Resolve(ctx context.Context, schedule string, tick time.Time, claimed *jobs.OperationSpec) (*jobs.Job, error)
}

// Worker consumes the work stream through its stages, built and
// connected in pipeline.go: intake (pull, screen, progress, recent), the
// batcher, the submitters (gate, API, pacing, pause), the settle step
// (whose completer is the only place that acks, hands back, terminates
// and publishes), and the tracker. Create it with New, run it with Run.
type Worker struct {
	cfg         Config
	js          jetstream.JetStream
	stream      string
	schedStream string
	log         *slog.Logger
	ledger      *ledger
	stop        chan struct{} // closed when pulling stops

	// The stages in the order a job meets them (pipeline.go), and the
	// channel and queue between them.
	intake   *intake
	incoming chan work
	batcher  *batcher
	queue    *batchQueue
	submit   *submitter
	ops      *operations
	settle   *settler
	tracker  *Tracker
}

// New checks deps and returns a Worker.
func New(cfg Config, d Deps) (*Worker, error) {
	switch {
	case d.JS == nil:
		return nil, errors.New("worker: no JetStream")
	case d.Stream == "":
		return nil, errors.New("worker: no stream name")
	case d.Validator == nil:
		return nil, errors.New("worker: no path validator")
	case d.API == nil:
		return nil, errors.New("worker: no CDN API client")
	case d.Gate == nil && len(d.Targets) == 0:
		return nil, errors.New("worker: no quota gate")
	case d.Store == nil:
		return nil, errors.New("worker: no task store")
	}
	cfg = cfg.WithDefaults()
	if errs := cfg.Validate(); errs != nil {
		return nil, errs.Prefix("worker") // named as in the config file
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Name == "" {
		d.Name = jobs.NewID()
	}
	return newPipeline(cfg, d)
}

// Pause stops submissions until until, on the clock of Deps.Now (an
// account problem seen elsewhere, for example a financial lock found by
// the service check).
func (w *Worker) Pause(until time.Time, reason string) { w.ledger.pauseUntil(until, reason) }

// Resume lifts a pause.
func (w *Worker) Resume() { w.ledger.resume() }

// Paused reports whether submissions are paused and why.
func (w *Worker) Paused() (bool, string) {
	return w.ledger.pausedNow()
}

// ConsumerConfig is the durable consumer the replicas share.
func (w *Worker) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     w.cfg.Consumer,
		Description: "cdnpurge worker: refresh, push and operation jobs",
		// No filter: the work stream holds only the work subjects, and a
		// consumer with several filter subjects needs nats-server 2.10,
		// while Debian and older clusters still run 2.9.
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   w.cfg.AckWait,
		// Unlimited: every way a job can end is handled explicitly (acked,
		// termed with a report, or delayed), and a capped delivery count
		// would silently drop jobs that waited for quota across days.
		MaxDeliver:    -1,
		MaxAckPending: w.cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Run consumes until ctx is cancelled, then shuts down in order: stop
// pulling, flush open batches, finish calls in flight within the grace
// period, and leave what was not submitted unacknowledged for redelivery.
func (w *Worker) Run(ctx context.Context) error {
	// The urgent stream first: the order in which they are pulled.
	var work []jetstream.Consumer
	for _, stream := range []string{queue.UrgentStreamName(w.stream), w.stream} {
		cons, err := w.js.CreateOrUpdateConsumer(ctx, stream, w.ConsumerConfig())
		if err != nil && ctx.Err() != nil {
			return nil // stopped before it started
		}
		if err != nil {
			return fmt.Errorf("create consumer %s on stream %s: %w", w.cfg.Consumer, stream, err)
		}
		work = append(work, cons)
	}
	schedCons, err := w.js.CreateOrUpdateConsumer(ctx, w.schedStream, w.ConsumerConfig())
	if err != nil && ctx.Err() != nil {
		return nil // stopped before it started
	}
	if err != nil {
		return fmt.Errorf("create consumer %s on tick stream %s: %w", w.cfg.Consumer, w.schedStream, err)
	}
	// Calls and their follow-up outlive ctx by the grace period, so that
	// what is in flight at shutdown still lands and gets acknowledged.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var submitters, background sync.WaitGroup
	for range w.cfg.Submitters {
		submitters.Go(func() {
			for {
				b, ok := w.queue.pop()
				if !ok {
					return
				}
				w.submit.submit(workCtx, b)
			}
		})
	}
	batcherDone := make(chan struct{})
	go func() {
		defer close(batcherDone)
		w.batcher.run()
	}()
	bgCtx, cancelBG := context.WithCancel(ctx)
	defer cancelBG()
	background.Go(func() { w.settle.heartbeat(bgCtx) })
	if !w.cfg.Tracker.Disabled {
		background.Go(func() { w.tracker.Run(bgCtx) })
	}

	w.log.Info("worker started", slog.String("consumer", w.cfg.Consumer), slog.String("stream", w.stream),
		slog.Duration("linger", w.cfg.Linger), slog.Int("submitters", w.cfg.Submitters))
	pullErr := w.intake.pullBoth(ctx, work, schedCons)

	// Shutdown.
	close(w.stop)
	w.ledger.wake()
	close(w.incoming)
	<-batcherDone
	done := make(chan struct{})
	go func() {
		submitters.Wait()
		w.submit.parked.Wait()
		w.ops.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownGrace):
		w.log.Warn("shutdown grace passed with calls in flight; their jobs stay unacknowledged and will be redelivered",
			slog.Duration("grace", w.cfg.ShutdownGrace))
		cancelWork()
		<-done
	}
	cancelBG()
	background.Wait()
	left := w.settle.handBackUnsent()
	w.log.Info("worker stopped", slog.Int("handed_back", left))
	if pullErr != nil && !errors.Is(pullErr, context.Canceled) {
		return pullErr
	}
	return nil
}
