package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// DirectDeps are what sending a job without the queue needs: the API and
// quota gate of each product in use, and which product serves a domain.
type DirectDeps struct {
	Targets map[apiclient.Product]TargetDeps
	// ProductOf names the product serving a domain; nil sends every path
	// to CDN.
	ProductOf func(host string) apiclient.Product
	Logger    *slog.Logger
	// Now is the quota day's clock; time.Now when nil.
	Now func() time.Time
}

// DirectTask is a task one call of SendDirect created.
type DirectTask struct {
	ID     string
	Target apiclient.Product
}

// NotSent is a part of a job SendDirect did not send, and why.
type NotSent struct {
	Paths  []string
	Reason string
	// Until is when sending may work again.
	Until time.Time
	// Quota is set when the paths wait for the daily quota.
	Quota bool
}

// DirectReport is what became of a job's paths.
type DirectReport struct {
	Calls     int
	Submitted int
	Tasks     []DirectTask
	// Rejected lists the paths the API refused, each with its reason.
	Rejected []jobs.Problem
	NotSent  []NotSent
}

// settle adds what became of b's paths to the report.
func (rep *DirectReport) settleBatch(_ context.Context, b *batch, o outcome) {
	paths := b.Paths()
	switch o.kind {
	case accepted:
		rep.Calls++
		rep.Submitted += len(paths)
		for _, id := range o.tasks {
			rep.Tasks = append(rep.Tasks, DirectTask{ID: id, Target: b.Key.product()})
		}
	case rejected:
		for _, p := range paths {
			rep.Rejected = append(rep.Rejected, jobs.Problem{Path: p, Reason: o.reason})
		}
	case deferred:
		rep.NotSent = append(rep.NotSent, NotSent{Paths: paths, Reason: o.reason, Until: o.until,
			Quota: o.quota != (quotaPool{})})
	}
}

// SendDirect sends the paths of a refresh or push job from this process,
// without the queue: the same split by target, grouping into calls,
// quota gate, API and verdicts as the service (`cdnpurge purge --direct`).
// A batch that finds no quota is not held in memory: it is reported as
// not sent, with the quota reset as Until.
func SendDirect(ctx context.Context, cfg Config, d DirectDeps, j *jobs.Job) (DirectReport, error) {
	var rep DirectReport
	k, ok := keyOf(j)
	if !ok {
		return rep, errors.New("direct: the job has no refresh or push section with a known object type")
	}
	if len(d.Targets) == 0 {
		return rep, errors.New("direct: no API client or quota gate of any product")
	}
	cfg = cfg.WithDefaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	targets, err := newTargets(d.Targets)
	if err != nil {
		return rep, fmt.Errorf("direct: %w", err)
	}
	s := newSubmitter(submitterParams{cfg: cfg, targets: targets, ledger: newLedger(cfg.AckWait, nil, d.Now),
		now: d.Now, log: d.Logger, stop: make(chan struct{}),
		holdFor: 0, // report what waits, do not wait
		out:     &rep})
	now := time.Now()
	for _, part := range splitByTarget(d.ProductOf, k, j.Paths()) {
		if _, ok := targets[part.key.product()]; !ok {
			return rep, fmt.Errorf("direct: paths of %s domains, but no %s API is configured", part.key.product(), productName(part.key.product()))
		}
		for _, call := range Plan(part.key, part.paths, cfg.Limits) {
			b := newBatch(part.key, now)
			for _, p := range call {
				b.add(&entry{path: p, domain: apiclient.PathDomain(p), added: now})
			}
			if err := ctx.Err(); err != nil {
				rep.NotSent = append(rep.NotSent, NotSent{Paths: b.Paths(), Reason: "interrupted before it was sent"})
				continue
			}
			s.submit(ctx, b)
		}
	}
	return rep, nil
}
