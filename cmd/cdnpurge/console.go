package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/console"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// startConsole builds the web console served on the admin listener under
// /console/ (startAdmin mounts it), and this replica's heartbeat, which
// the console lists.
func (sv *daemon) startConsole(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, subj jobs.Subjects, pub *queue.Publisher,
	states operations.StateStore) error {
	// The archive is the worker's: a webhooks-only replica (whose NATS
	// role may not touch it) serves the console without dead letters.
	var arch *worker.Archive
	if sv.flags.worker {
		var err error
		if arch, err = worker.OpenArchive(ctx, js, "", sv.cfg.Worker.ArchiveRetention, sv.cfg.NATS.Replicas); err != nil {
			sv.log.Warn("console: no dead-letter archive", slog.String("error", err.Error()))
			arch = nil
		}
	}
	c, err := console.New(console.Deps{Conn: nc, JS: js, Stream: sv.cfg.NATS.Stream, StatusStream: sv.cfg.NATS.StatusStream,
		Subjects: subj, Control: sv.ctl.ctl, Archive: arch, Publisher: pub, Token: string(sv.cfg.Admin.Token),
		Logger: sv.log.With("component", "console"), Location: sv.cfg.Location()})
	if err != nil {
		return err
	}
	if states != nil {
		c.SetSchedules(func(ctx context.Context) ([]operations.Row, error) {
			st, err := states.List(ctx)
			if err != nil {
				return nil, err
			}
			return operations.Rows(sv.cfg.Schedules, st, time.Now(), 3)
		})
	}
	sv.console = c

	host, _ := os.Hostname()
	var roles []string
	for _, r := range []struct {
		on   bool
		name string
	}{{sv.flags.webhooks, "webhooks"}, {sv.flags.worker, "worker"}, {sv.flags.scheduler, "scheduler"}} {
		if r.on {
			roles = append(roles, r.name)
		}
	}
	me := worker.Replica{Name: host + "-" + strconv.Itoa(os.Getpid()), Version: version, Roles: roles, Started: time.Now()}
	sv.spawn("replica heartbeat", func(ctx context.Context) error {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			me.Seen = time.Now()
			if err := sv.ctl.ctl.Heartbeat(ctx, me); err == nil && pub != nil {
				// Flushed like a job (group commit): an unflushed
				// heartbeat would put the control bucket, pauses and
				// cancels included, at the mercy of a power cut. A
				// failing flush is the store health check's to report.
				_ = pub.Flush(ctx)
			}
			select {
			case <-ctx.Done():
				_ = sv.ctl.ctl.Gone(context.WithoutCancel(ctx), me.Name)
				return nil
			case <-t.C:
			}
		}
	})
	return nil
}

// consoleQuota gives the console the quota mirrors of this replica.
func (sv *daemon) consoleQuota(mirrors []*quota.Mirror) {
	if sv.console == nil {
		return
	}
	sv.console.SetQuota(func(ctx context.Context) ([]quota.Snapshot, error) {
		out := make([]quota.Snapshot, 0, len(mirrors))
		for _, m := range mirrors {
			s, err := m.Snapshot(ctx)
			if err != nil {
				return out, fmt.Errorf("%s quota: %w", m.Target(), err)
			}
			out = append(out, s)
		}
		return out, nil
	})
}
