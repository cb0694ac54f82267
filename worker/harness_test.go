package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
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
	"github.com/cdnpurge/cdnpurge/quota/ratelimit"
)

// harness is a worker's world: an embedded NATS, the CDN API emulator, an
// API client, a quota mirror and the task store.
type harness struct {
	t      testing.TB
	ctx    context.Context
	nats   *jobstest.NATS
	recent Recent
	// metrics, when set before runWorker, is given to the workers.
	metrics *Metrics
	// history, when set before runWorker, is given to the workers.
	history JobRecorder
	// control, when set before runWorker, is given to the workers.
	control ControlReader
	// shares, when set before runWorker, caps sources (quota.shares).
	shares  ShareGate
	natsURL string
	nc      *nats.Conn
	js      jetstream.JetStream
	emu     *cdnemu.Server
	// events is the test's status watch (watchStatus), a signal of waitFor.
	events *jobstest.Statuses
	clock  *cdnemu.Clock
	// paceWaits counts the domain pacer's waits on the harness clock.
	paceWaits atomic.Int64
	client    *apiclient.Client
	store     quota.Store
	mirror    *quota.Mirror
	// dcdn is DCDN's quota mirror, when harnessOpts.dcdn names domains.
	dcdn      *quota.Mirror
	productOf func(host string) apiclient.Product
	kv        *KVStore
	subjects  jobs.Subjects
	val       *jobs.Validator
	pub       *queue.Publisher
	log       *slog.Logger

	// targets are more targets of the worker (ESA sites: esa_test.go).
	targets map[apiclient.Product]TargetDeps
}

type harnessOpts struct {
	emu     cdnemu.Options
	clock   bool
	store   quota.Store
	retry   apiclient.RetryPolicy
	limiter apiclient.Limiter
	recent  Recent
	// natsURL uses a NATS server the test runs itself instead of the
	// embedded one.
	natsURL string
	// dcdn are DCDN domains: the emulator serves them on DCDN only, the
	// allowlist takes them, and the worker sends them to DCDN.
	dcdn []string
	// pace gives the client a domain pacer per product (the emulator's
	// per-domain limits), on the harness clock when clock is set: a wait
	// moves the clock instead of sleeping.
	pace bool
	// allow are more allowlist entries (tag tests name domains exactly).
	allow []string
}

// connect opens a connection of its own to the test's NATS, as another
// process would, closed when the test ends.
func (h *harness) connect() (*nats.Conn, jetstream.JetStream) {
	h.t.Helper()
	nc, err := nats.Connect(h.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		h.t.Fatalf("connect to NATS: %v", err)
	}
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return nc, js
}

func testLogger() *slog.Logger {
	if os.Getenv("CDNPURGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), log: testLogger(), recent: o.recent}
	h.subjects, _ = jobs.NewSubjects("cdn")
	h.startNATS(o.natsURL)

	if o.clock {
		h.clock = cdnemu.NewClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		o.emu.Now = h.clock.Now
	}
	if len(o.emu.Domains) == 0 {
		o.emu.Domains = []string{"example.com", "*.example.com"}
	}
	o.emu.DCDNDomains = append(o.emu.DCDNDomains, o.dcdn...)
	emu, err := cdnemu.NewServer(o.emu)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	h.emu = emu
	now := time.Now
	if h.clock != nil {
		now = h.clock.Now
	}
	retryPolicy := o.retry
	if retryPolicy.Base == 0 {
		retryPolicy = apiclient.RetryPolicy{MaxAttempts: 8, Base: 5 * time.Millisecond, Max: 50 * time.Millisecond, MaxTotal: 5 * time.Second}
	}
	copts := apiclient.Options{
		Limiter:     o.limiter,
		Endpoint:    emu.URL,
		Endpoints:   map[apiclient.Product]string{apiclient.ProductDCDN: emu.URL, apiclient.ProductESA: emu.URL},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret},
		Retry:       retryPolicy,
		Now:         now,
		Logger:      h.log,
	}
	if o.pace {
		copts.DomainPacer = h.domainPacer(o.emu.DomainURLsPerMinute, now)
		copts.DomainPacers = map[apiclient.Product]apiclient.DomainPacer{apiclient.ProductDCDN: h.domainPacer(o.emu.DCDNDomainURLsPerMinute, now)}
	}
	h.client, err = apiclient.New(copts)
	if err != nil {
		t.Fatal(err)
	}
	h.store = o.store
	if h.store == nil {
		h.store = quota.NewMemoryStore(quota.Options{Now: now})
	}
	h.mirror = quota.NewMirror(h.store, h.client, quota.MirrorConfig{Now: now, Logger: h.log})
	if err := h.mirror.SyncNow(h.ctx); err != nil {
		t.Fatalf("first quota sync: %v", err)
	}
	if len(o.dcdn) > 0 {
		h.dcdn = quota.NewMirror(quota.NewMemoryStore(quota.Options{Now: now, Target: apiclient.ProductDCDN}), h.client, quota.MirrorConfig{Now: now, Logger: h.log})
		if err := h.dcdn.SyncNow(h.ctx); err != nil {
			t.Fatalf("first DCDN quota sync: %v", err)
		}
		dcdn := map[string]bool{}
		for _, d := range o.dcdn {
			dcdn[d] = true
		}
		h.productOf = func(host string) apiclient.Product {
			if dcdn[host] {
				return apiclient.ProductDCDN
			}
			return apiclient.ProductCDN
		}
	}
	h.val, err = jobs.NewValidator(jobs.ValidatorConfig{Domains: append(append([]string{"example.com", "*.example.com"}, o.dcdn...), o.allow...)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// domainPacer paces limit URLs per domain per window. On the harness
// clock a wait moves the clock to the wait's end (never back), once every
// call that took URLs from the pacer was answered: in real time those
// calls take milliseconds of a wait of a minute, and moving the clock
// under a call in flight would have the emulator count it a minute late.
// Calls of one domain each (a multi-domain call waiting for its second
// domain would wait for itself).
func (h *harness) domainPacer(limit int, now func() time.Time) apiclient.DomainPacer {
	if limit <= 0 {
		return apiclient.NoPacing()
	}
	o := ratelimit.DomainPacerOptions{Limit: limit, Now: now, Logger: h.log}
	if h.clock == nil {
		return ratelimit.NewMemoryDomainPacer(o)
	}
	fp := &flightPacer{}
	fp.idle = sync.NewCond(&fp.mu)
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		for fp.inFlight > 0 && ctx.Err() == nil {
			fp.idle.Wait()
		}
		h.paceWaits.Add(1)
		if end := now().Add(d); end.After(h.clock.Now()) {
			h.clock.Set(end)
		}
		return ctx.Err()
	}
	fp.DomainPacer = ratelimit.NewMemoryDomainPacer(o)
	return fp
}

// flightPacer counts the calls that took URLs and were not answered yet.
type flightPacer struct {
	*ratelimit.DomainPacer
	mu       sync.Mutex
	idle     *sync.Cond
	inFlight int
}

func (p *flightPacer) Take(ctx context.Context, domain string, n int) error {
	err := p.DomainPacer.Take(ctx, domain, n)
	if err == nil {
		p.mu.Lock()
		p.inFlight++
		p.mu.Unlock()
	}
	return err
}

func (p *flightPacer) answered() {
	p.mu.Lock()
	p.inFlight--
	p.mu.Unlock()
	p.idle.Broadcast()
}

func (p *flightPacer) Give(ctx context.Context, domain string, n int) error {
	defer p.answered()
	return p.DomainPacer.Give(ctx, domain, n)
}

func (p *flightPacer) Landed(ctx context.Context, domain string, n int) error {
	defer p.answered()
	return p.DomainPacer.Landed(ctx, domain, n)
}

func (h *harness) startNATS(url string) {
	h.t.Helper()
	if url == "" {
		h.nats = jobstest.RunNATS(h.t)
		url = h.nats.URL
	}
	h.natsURL = url
	h.nc, h.js = h.connect()
	var err error
	if _, err := queue.EnsureStream(h.ctx, h.js, queue.StreamConfig{Subjects: h.subjects}); err != nil {
		h.t.Fatal(err)
	}
	if _, err := queue.EnsureSchedStream(h.ctx, h.js, queue.StreamConfig{Subjects: h.subjects}); err != nil {
		h.t.Fatal(err)
	}
	if _, err := queue.EnsureStatusStream(h.ctx, h.js, queue.StatusStreamConfig{Subjects: h.subjects}); err != nil {
		h.t.Fatal(err)
	}
	h.kv, err = OpenKVStore(h.ctx, h.js, "", 1)
	if err != nil {
		h.t.Fatal(err)
	}
	h.pub, err = queue.NewPublisher(h.nc, queue.PublisherConfig{Subjects: h.subjects})
	if err != nil {
		h.t.Fatal(err)
	}
}

// fastConfig is a worker configuration for tests: short waits everywhere.
func fastConfig() Config {
	return Config{
		Linger:        30 * time.Millisecond,
		AckWait:       3 * time.Second,
		QuotaHold:     200 * time.Millisecond,
		QuotaPoll:     20 * time.Millisecond,
		DeferMax:      300 * time.Millisecond,
		RetryDelay:    200 * time.Millisecond,
		PauseFor:      200 * time.Millisecond,
		ShutdownGrace: 5 * time.Second,
		Tracker: TrackerConfig{
			Interval:        20 * time.Millisecond,
			FirstPoll:       20 * time.Millisecond,
			MaxPollInterval: 100 * time.Millisecond,
			Lease:           time.Second,
		},
	}
}

// runWorker starts a worker on the harness's connection and client; the
// returned stop cancels it and waits.
func (h *harness) runWorker(cfg Config, name string) (*Worker, func()) {
	h.t.Helper()
	return h.runWorkerWith(cfg, name, h.js, h.kv, h.client)
}

// replica is a worker with its own NATS connection, as another process
// would have.
type replica struct {
	nc   *nats.Conn
	api  *countingAPI
	stop func()
}

func (h *harness) runReplica(cfg Config, name string) *replica {
	h.t.Helper()
	nc, js := h.connect()
	kv, err := OpenKVStore(h.ctx, js, "", 1)
	if err != nil {
		h.t.Fatal(err)
	}
	api := &countingAPI{API: h.client}
	_, stop := h.runWorkerWith(cfg, name, js, kv, api)
	return &replica{nc: nc, api: api, stop: stop}
}

// countingAPI counts the refresh and push calls of one replica.
type countingAPI struct {
	API
	mu    sync.Mutex
	calls int
	dead  bool
}

// errKilled is what a killed process's calls come to: nothing.
var errKilled = errors.New("process killed")

func (c *countingAPI) Refresh(ctx context.Context, tg apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	c.mu.Lock()
	dead := c.dead
	c.calls++
	c.mu.Unlock()
	if dead {
		return apiclient.RefreshResult{}, errKilled
	}
	return c.API.Refresh(ctx, tg, r)
}

// kill makes every later call of the replica fail, as after SIGKILL.
func (c *countingAPI) kill() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

func (c *countingAPI) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func (h *harness) runWorkerWith(cfg Config, name string, js jetstream.JetStream, kv *KVStore, api API) (*Worker, func()) {
	h.t.Helper()
	now := time.Now
	if h.clock != nil {
		now = h.clock.Now
	}
	d := Deps{JS: js, Stream: queue.DefaultStreamName, Subjects: h.subjects, Validator: h.val,
		API: api, Gate: h.mirror, Syncer: h.mirror, Store: kv, Recent: h.recent, Metrics: h.metrics, Logger: h.log.With("replica", name),
		Now: now, Name: name, ProductOf: h.productOf, History: h.history, Control: h.control, Shares: h.shares}
	if h.dcdn != nil {
		d.Targets = map[apiclient.Product]TargetDeps{apiclient.ProductDCDN: {API: h.client, Gate: h.dcdn, Syncer: h.dcdn}}
	}
	for p, td := range h.targets {
		if d.Targets == nil {
			d.Targets = map[apiclient.Product]TargetDeps{}
		}
		d.Targets[p] = td
	}
	w, err := New(cfg, d)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		// A replica whose connection a test closed (a crash) may report
		// that its pull stopped; any other error is a failure.
		if err := w.Run(ctx); err != nil && !js.Conn().IsClosed() {
			h.t.Errorf("worker %s: %v", name, err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.t.Cleanup(stop)
	return w, stop
}

func (h *harness) publish(j *jobs.Job) string {
	h.t.Helper()
	j.Prepare("test", time.Now())
	if err := h.val.Validate(j); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.pub.Publish(h.ctx, j, ""); err != nil {
		h.t.Fatal(err)
	}
	return j.ID
}

func refreshJob(paths ...string) *jobs.Job {
	return &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: paths}}
}

func urls(host string, from, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("https://%s/assets/%06d.js", host, from+i)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes. The deadline
// only bounds a hang: it is at least a minute, because tests run in
// parallel under -race on two shared cores, where a wait of seconds can
// take ten times as long.
//
// It looks again whenever the emulator answers a call or a status event
// arrives (the signals the conditions depend on), not on a fast timer.
func (h *harness) waitFor(what string, d time.Duration, cond func() bool) {
	h.t.Helper()
	signals := []func() <-chan struct{}{h.emu.Answered}
	if h.events != nil {
		signals = append(signals, h.events.Changed)
	}
	jobstest.Await(h.t, what, max(d, time.Minute), cond, signals...)
}

// drained reports whether every job left the work stream (acked or
// terminated).
func (h *harness) drained() bool { return jobstest.StreamEmpty(h.ctx, h.js, queue.DefaultStreamName) }

func (h *harness) watchStatus() *jobstest.Statuses {
	h.t.Helper()
	h.events = jobstest.WatchStatus(h.t, h.nc, h.subjects)
	return h.events
}

// deferredAgain waits until a job of ids that was handed back is handed
// back once more: delivered again, it went round the gate without a call.
// Tests that assert nothing more was sent wait on it instead of a sleep.
func (h *harness) deferredAgain(events *jobstest.Statuses, ids []string) {
	h.t.Helper()
	deferrals := func(id string) int {
		n := 0
		for _, st := range events.States(id) {
			if st == jobs.StateDeferred {
				n++
			}
		}
		return n
	}
	h.waitFor("a job handed back", 20*time.Second, func() bool {
		for _, c := range ids {
			if ev, ok := events.Last(c); ok && ev.State == jobs.StateDeferred {
				return true
			}
		}
		return false
	})
	// Any of them handed back again: one picked alone may be the job that
	// goes out next (quota came back) and is never handed back again.
	before := make(map[string]int, len(ids))
	for _, c := range ids {
		before[c] = deferrals(c)
	}
	h.waitFor("a job handed back once more", 20*time.Second, func() bool {
		for _, c := range ids {
			if deferrals(c) > before[c] {
				return true
			}
		}
		return false
	})
}
