package operations

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker"
)

// world is what replicas share: an embedded NATS with the work stream, the
// CDN API emulator on a fake clock, and an API client on the same clock.
type world struct {
	t        *testing.T
	ctx      context.Context
	nats     *jobstest.NATS
	emu      *cdnemu.Server
	clock    *cdnemu.Clock
	client   *apiclient.Client
	subjects jobs.Subjects
	val      *jobs.Validator
	mirror   *quota.Mirror
	log      *slog.Logger
}

func testLogger() *slog.Logger {
	if os.Getenv("CDNPURGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newWorld(t *testing.T, start time.Time) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), log: testLogger(), clock: cdnemu.NewClock(start)}
	w.nats = jobstest.RunNATS(t)
	w.subjects, _ = jobs.NewSubjects("cdn")
	_, js := w.connect()
	if _, err := queue.EnsureStream(w.ctx, js, queue.StreamConfig{Subjects: w.subjects}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.EnsureSchedStream(w.ctx, js, queue.StreamConfig{Subjects: w.subjects}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.EnsureStatusStream(w.ctx, js, queue.StatusStreamConfig{Subjects: w.subjects}); err != nil {
		t.Fatal(err)
	}
	var err error
	emu, err := cdnemu.NewServer(cdnemu.Options{Domains: []string{"example.com"}, Now: w.clock.Now, NoRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	w.emu = emu
	w.client, err = apiclient.New(apiclient.Options{
		Endpoint:    emu.URL,
		Endpoints:   map[apiclient.Product]string{apiclient.ProductDCDN: emu.URL},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret},
		Retry:       apiclient.RetryPolicy{MaxAttempts: 4, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxTotal: time.Second},
		RateLimits:  map[string]float64{apiclient.CDN().Actions.Service: -1, apiclient.CDN().Actions.ModifyService: -1},
		Now:         w.clock.Now,
		Logger:      w.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.val, err = jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	w.mirror = quota.NewMirror(quota.NewMemoryStore(quota.Options{Now: w.clock.Now}), w.client,
		quota.MirrorConfig{Now: w.clock.Now, Logger: w.log})
	if err := w.mirror.SyncNow(w.ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// connect opens a NATS connection of its own, as a replica would.
func (w *world) connect() (*nats.Conn, jetstream.JetStream) {
	w.t.Helper()
	return w.nats.Connect()
}

// replica is one cdnpurge process: a scheduler, and optionally a worker
// with the operator.
type replica struct {
	name   string
	js     jetstream.JetStream
	state  *KVStateStore
	sched  *Scheduler
	worker *worker.Worker
	stop   func()
}

func (w *world) replica(name string, schedules []Schedule, withWorker bool) *replica {
	w.t.Helper()
	nc, js := w.connect()
	pub, err := queue.NewPublisher(nc, queue.PublisherConfig{Subjects: w.subjects})
	if err != nil {
		w.t.Fatal(err)
	}
	state, err := OpenKVStateStore(w.ctx, js, "", 1)
	if err != nil {
		w.t.Fatal(err)
	}
	r := &replica{name: name, js: js, state: state, stop: func() {}}
	r.sched, err = New(Config{Schedules: schedules, Publisher: pub, State: state, Now: w.clock.Now,
		Logger: w.log.With("replica", name)})
	if err != nil {
		w.t.Fatal(err)
	}
	if withWorker {
		auth, err := NewAuthority(AuthorityConfig{Schedules: schedules, Allowlist: w.val, State: state, Now: w.clock.Now})
		if err != nil {
			w.t.Fatal(err)
		}
		r.worker, r.stop = w.runWorker(name, js, NewOperator(w.client, OperatorConfig{State: state, Now: w.clock.Now,
			Allowlist: w.val, Logger: w.log.With("replica", name)}), auth)
	}
	return r
}

func (w *world) runWorker(name string, js jetstream.JetStream, op worker.Operator, ticks worker.Ticks) (*worker.Worker, func()) {
	w.t.Helper()
	store, err := worker.OpenKVStore(w.ctx, js, "", 1)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := worker.Config{
		Linger: 20 * time.Millisecond, AckWait: 3 * time.Second, QuotaHold: 100 * time.Millisecond,
		QuotaPoll: 20 * time.Millisecond, DeferMax: 200 * time.Millisecond, RetryDelay: 200 * time.Millisecond,
		PauseFor: 200 * time.Millisecond, ShutdownGrace: 3 * time.Second, Submitters: 2,
		Tracker: worker.TrackerConfig{Interval: 20 * time.Millisecond, FirstPoll: 20 * time.Millisecond,
			MaxPollInterval: 100 * time.Millisecond, Lease: time.Second},
	}
	wk, err := worker.New(cfg, worker.Deps{JS: js, Stream: queue.DefaultStreamName, Subjects: w.subjects, Validator: w.val,
		API: w.client, Gate: w.mirror, Syncer: w.mirror, Store: store, Operator: op, Ticks: ticks,
		Logger: w.log.With("replica", name), Now: w.clock.Now, Name: name})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := wk.Run(ctx); err != nil {
			w.t.Errorf("worker %s: %v", name, err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	w.t.Cleanup(stop)
	return wk, stop
}

// shanghai returns a wall time in Asia/Shanghai.
func shanghai(y int, m time.Month, d, h, min, sec int) time.Time {
	loc, _ := loadLocation(DefaultTimeZone)
	return time.Date(y, m, d, h, min, sec, 0, loc)
}

func billingSchedules() []Schedule {
	return []Schedule{
		{Name: "night-bandwidth", Cron: "0 23 * * *", Action: apiclient.CDN().Actions.ModifyService, CatchUp: true,
			Params: map[string]string{"InternetChargeType": apiclient.PayByBandwidth}},
		{Name: "day-traffic", Cron: "0 7 * * *", Action: apiclient.CDN().Actions.ModifyService, CatchUp: true,
			Params: map[string]string{"InternetChargeType": apiclient.PayByTraffic}},
	}
}
