package worker

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// newPipeline builds the worker's stages, each from its own params, and
// connects them. Read top to bottom, it is the way of a job:
//
//	intake ─(incoming)─► batcher ─(queue)─► submitters ─(outcomes)─► settle step ─(job records)─► tracker
//
// Intake pulls and screens a message and sends the job's paths to the
// batcher; the batcher cuts batches and queues them; a submitter gates a
// batch on its target's quota, calls the API and hands what became of
// each path to the settle step; the settle step stores what must survive,
// then the completer acks, hands back or terminates the message and
// publishes the job's status; the tracker follows the stored
// submissions until their tasks are done. cfg and d were checked by New.
func newPipeline(cfg Config, d Deps) (*Worker, error) {
	// Shared by the stages: the bookkeeping of where jobs and paths
	// stand, and the one step that acts on a message (completer.go).
	ledger := newLedger(cfg.AckWait, d.Metrics, d.Now)
	status := &natsStatus{conn: d.JS.Conn(), subjects: d.Subjects, now: d.Now, log: d.Logger}
	complete := &completer{status: status, metrics: d.Metrics, log: d.Logger}

	// Where a batch can go: each product's API and quota mirror. CDN is a
	// target when it has a gate: an account may purge DCDN domains only.
	all := map[apiclient.Product]TargetDeps{}
	if d.Gate != nil {
		all[apiclient.ProductCDN] = TargetDeps{API: d.API, Gate: d.Gate, Syncer: d.Syncer, Shares: d.Shares}
	}
	maps.Copy(all, d.Targets)
	targets, err := newTargets(all)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}

	// The last stages are built first, because the earlier ones hand
	// them their results.
	tasks := map[apiclient.Product]TaskTarget{apiclient.ProductCDN: TaskTargetOf(apiclient.ProductCDN, d.API)}
	for p, td := range d.Targets {
		tasks[p] = TaskTargetOf(p, td.API)
	}
	tracker, err := NewTracker(cfg.Tracker, TrackerDeps{Store: d.Store, Targets: tasks, Status: status,
		Metrics: d.Metrics, Logger: d.Logger, Name: d.Name})
	if err != nil {
		return nil, err
	}
	settle := newSettler(settleParams{cfg: cfg, store: d.Store, recent: d.Recent, status: status, ledger: ledger,
		complete: complete, tracker: tracker, metrics: d.Metrics, log: d.Logger, history: d.History, now: d.Now})

	w := &Worker{cfg: cfg, js: d.JS, stream: d.Stream, schedStream: d.SchedStream, log: d.Logger,
		ledger: ledger, stop: make(chan struct{}), settle: settle, tracker: tracker}
	if w.schedStream == "" {
		w.schedStream = queue.SchedStreamName(d.Stream)
	}

	// 1. Intake: pull, screen (a refused message goes to the completer),
	// drop what was sent already, split by target, send to the batcher.
	screen, err := queue.NewScreen(queue.ScreenConfig{Validator: d.Validator, Subjects: d.Subjects, JetStream: d.JS,
		Refused: func(ctx context.Context, msg jetstream.Msg, ev jobs.StatusEvent) { complete.refused(ctx, msg, ev) },
		Logger:  d.Logger, Now: d.Now})
	if err != nil {
		return nil, err
	}
	complete.report = screen.ReportInvalid
	w.incoming = make(chan work, 1024)
	w.ops = &operations{operator: d.Operator, settle: settle, ledger: ledger}
	w.intake = newIntake(intakeParams{cfg: cfg, js: d.JS, consumer: w.ConsumerConfig(), subjects: d.Subjects, screen: screen,
		ticks: d.Ticks, store: d.Store, recent: d.Recent, productOf: d.ProductOf, targets: targets, ledger: ledger,
		metrics: d.Metrics, log: d.Logger, out: w.incoming, ops: w.ops, settle: settle})

	// 2. Batcher: paths into the fewest calls the limits allow.
	w.queue = newBatchQueue()
	line := newGateLine() // shared by the batcher (unsent paths) and the submitters
	w.batcher = newBatcher(batcherParams{linger: cfg.Linger, limits: cfg.Limits, ledger: ledger, metrics: d.Metrics,
		settle: settle, in: w.incoming, out: w.queue, line: line, log: d.Logger})

	// 3. Submitters: quota gate, operator's hold, the API call, the fate
	// of a failed call (decideCall); every outcome goes to the settle step.
	w.submit = newSubmitter(submitterParams{cfg: cfg, targets: targets,
		hold:   operatorHold{control: d.Control, deferMax: cfg.DeferMax, log: d.Logger, now: d.Now},
		ledger: ledger, now: d.Now, metrics: d.Metrics, log: d.Logger,
		park: true, holdFor: cfg.QuotaHold, stop: w.stop, out: settle, line: line,
		claims: claimsOf(cfg, d.Recent), owner: strings.Join(strings.Fields(d.Name), "_")})

	// 4. The settle step (settle.go) and 5. the tracker (tracker.go) were
	// built above; Run starts the loops.
	return w, nil
}

// claimsOf is the record of calls in flight shared by replicas: recent
// when it is one (Redis) and the recent window is on; nil otherwise.
func claimsOf(cfg Config, recent Recent) claimer {
	if c, ok := recent.(claimer); ok && cfg.RecentWindow > 0 {
		return c
	}
	return nil
}
