package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
)

// control is serve's side of the operator control bucket: the worker's
// hook reads it, /readyz and a metric show the pauses, and this replica's
// automatic pauses are reported into it.
type control struct {
	ctl   *worker.Control
	cache *worker.ControlCache
}

func (sv *daemon) openControl(ctx context.Context, js jetstream.JetStream, reg prometheus.Registerer) error {
	ctl, err := worker.OpenControl(ctx, js, "", sv.cfg.NATS.Replicas)
	if err != nil {
		return fmt.Errorf("control bucket: %w", err)
	}
	if err := sv.sup.WatchExisting(ctx, "KV_"+worker.DefaultControlBucket); err != nil {
		return err
	}
	sv.ctl = &control{ctl: ctl, cache: worker.NewControlCache(ctl, time.Second)}
	// A resume wakes the batches the pause held, on every replica.
	sv.spawn("pause watch", sv.ctl.cache.WatchPause)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cdnpurge_operator_paused",
		Help: "1 while an operator pause (cdnpurge pause) holds all submissions."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, on, err := sv.ctl.cache.OperatorPause(ctx, time.Now()); err == nil && on {
			return 1
		}
		return 0
	}))
	return nil
}

// readyCheck shows the pauses on /readyz without making serve unready: a
// paused replica is healthy and keeps accepting jobs. /readyz is public,
// so it says "paused" and nothing of who, why or where; jobs list, quota
// and the cdnpurge_operator_paused metric tell operators the rest.
func (c *control) readyCheck() webhooks.ReadyCheck {
	return webhooks.ReadyCheck{Name: "submissions", Check: func(ctx context.Context) error {
		ps, err := c.ctl.Pauses(ctx, time.Now())
		if err != nil {
			return webhooks.Notice("pause state unknown")
		}
		if len(ps) > 0 {
			return webhooks.Notice("paused")
		}
		return nil
	}}
}

// reportAutoPauses copies this replica's automatic pause (financial lock,
// refused credentials) into the control bucket while it holds, so that
// jobs list, quota and /readyz of any replica show it. The entry is
// renewed every few seconds and ends a minute after the replica stops.
func (c *control) reportAutoPauses(w pausedReporter, name string, log *slog.Logger) func(ctx context.Context) error {
	return c.reportEvery(w, name, log, 5*time.Second)
}

// pausedReporter is what the pause reporter asks of the worker.
type pausedReporter interface{ Paused() (bool, string) }

func (c *control) reportEvery(w pausedReporter, name string, log *slog.Logger, every time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		var since time.Time
		for {
			paused, reason := w.Paused()
			switch {
			case paused:
				if since.IsZero() {
					since = time.Now()
				}
				p := &worker.PauseState{Until: time.Now().Add(time.Minute), Reason: reason, By: "replica:" + name, Since: since}
				if err := c.ctl.ReportAuto(ctx, name, p); err != nil && ctx.Err() == nil {
					log.Warn("report automatic pause", slog.String("error", err.Error()))
				}
			case !since.IsZero():
				since = time.Time{}
				_ = c.ctl.ReportAuto(ctx, name, nil)
			}
			select {
			case <-ctx.Done():
				if !since.IsZero() {
					_ = c.ctl.ReportAuto(context.WithoutCancel(ctx), name, nil)
				}
				return nil
			case <-t.C:
			}
		}
	}
}

// startArchiver runs the dead-letter archiver of this replica (the
// replicas share its consumer).
func (sv *daemon) startArchiver(ctx context.Context, js jetstream.JetStream, subj jobs.Subjects) error {
	arch, err := worker.OpenArchive(ctx, js, "", sv.cfg.Worker.ArchiveRetention, sv.cfg.NATS.Replicas)
	if err != nil {
		return fmt.Errorf("archive bucket: %w", err)
	}
	if err := sv.sup.WatchExisting(ctx, "KV_"+worker.DefaultArchiveBucket); err != nil {
		return err
	}
	ar := &worker.Archiver{JS: js, StatusStream: sv.cfg.NATS.StatusStream, Subjects: subj, Archive: arch, History: sv.history, Logger: sv.log}
	sv.sup.WatchConsumer(sv.cfg.NATS.StatusStream, ar.ConsumerConfig())
	sv.spawn("archiver", ar.Run)
	return nil
}

// openHistory opens the job history bucket (worker.archive_retention) and
// starts this replica's writer of it.
func (sv *daemon) openHistory(ctx context.Context, js jetstream.JetStream) error {
	h, err := worker.OpenHistory(ctx, js, "", sv.cfg.Worker.ArchiveRetention, 0, sv.cfg.NATS.Replicas, sv.log)
	if err != nil {
		return fmt.Errorf("job history bucket: %w", err)
	}
	if err := sv.sup.WatchExisting(ctx, "KV_"+worker.DefaultHistoryBucket); err != nil {
		return err
	}
	sv.history = h
	sv.spawn("job history", h.Run)
	return nil
}
