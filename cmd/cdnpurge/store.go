package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/webhooks"
)

// marksEvery is how often serve records how far the embedded store's
// streams got (embedded.RecordMarks), which bounds what the next start
// can name as lost.
const marksEvery = 5 * time.Second

// surveyStore reads the embedded store before the server starts: which
// streams it held and how far they had got at the last run.
func (sv *daemon) surveyStore() error {
	b, err := embedded.Survey(sv.cfg.NATS.Embedded.StoreDir)
	if err != nil {
		return fmt.Errorf("embedded NATS: %w", err)
	}
	sv.before = b
	return nil
}

// checkRestart compares what the embedded server restored with what the
// store held before, and says what was lost: an ERROR per stream, never a
// silent re-create. Call it before the streams are ensured.
func (sv *daemon) checkRestart(ctx context.Context, js jetstream.JetStream) {
	lost, err := sv.before.Losses(ctx, js)
	if err != nil {
		sv.log.Warn("could not compare the restored streams with the store's record", slog.String("error", err.Error()))
	}
	for _, l := range lost {
		sv.log.Error("jetstream stream lost in the restart; it is re-created, what it held is gone",
			slog.String("stream", l.Stream), slog.String("lost", l.What),
			slog.String("hint", "a host crash with a lazy nats.embedded.sync_interval, or a damaged store; see docs/durability.md"))
	}
	sv.lost = lost
}

// historyLost is one line per stream the restart lost, for /readyz and
// the state file `jobs list` reads.
func (sv *daemon) historyLost() []string {
	var out []string
	for _, l := range sv.lost {
		out = append(out, "stream "+l.Stream+": "+l.What)
	}
	return out
}

// historyReady shows on /readyz, without making serve unready (it takes
// jobs again), that history was lost since the last start. The public
// /readyz shows the bare state; which streams and what they held are in
// the ERROR log line and `jobs list`.
func (sv *daemon) historyReady() webhooks.ReadyCheck {
	return webhooks.ReadyCheck{Name: "history", Check: func(context.Context) error { return webhooks.Notice("lost since last start") }}
}

// recordMarks records the streams' marks at start, every marksEvery and
// at the end.
func (sv *daemon) recordMarks(js jetstream.JetStream) func(ctx context.Context) error {
	dir := sv.cfg.NATS.Embedded.StoreDir
	return func(ctx context.Context) error {
		record := func(ctx context.Context) {
			if err := embedded.RecordMarks(ctx, js, dir); err != nil {
				sv.log.Warn("could not record the streams' marks", slog.String("error", err.Error()))
			}
		}
		// Every stream and bucket exists by now: put their metadata on
		// disk once, so that a power cut cannot take a stream whole.
		if err := embedded.FlushStore(dir); err != nil {
			sv.log.Warn("could not flush the store's metadata", slog.String("error", err.Error()))
		}
		t := time.NewTicker(marksEvery)
		defer t.Stop()
		for {
			record(ctx)
			select {
			case <-ctx.Done():
				final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				record(final)
				cancel()
				return nil
			case <-t.C:
			}
		}
	}
}

// noteHistoryLost says on w, before a job list, that the running serve
// whose store the command uses found streams lost at its start: the list
// cannot show the jobs that were in them.
func (a *app) noteHistoryLost(w io.Writer) {
	if a.discovery.file == "" {
		return
	}
	st, err := readServeState(filepath.Dir(a.discovery.file))
	if err != nil || len(st.HistoryLost) == 0 {
		return
	}
	fmt.Fprintf(w, "WARNING: history lost since serve started at %s; jobs from before are missing from this list:\n", st.StartedAt.UTC().Format(time.RFC3339))
	for _, l := range st.HistoryLost {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

// newStoreHealth makes the embedded store's health watch (full disk,
// write errors, free space) and its gauges, registered with reg later.
// After a write error it restarts the embedded server with opts, on the
// same port and store: nats-server keeps a stream's write error until the
// stream is opened again, and clients reconnect by themselves.
func (sv *daemon) newStoreHealth(opts *embedded.Options) {
	free := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_store_free_bytes",
		Help: "Free and total bytes of the filesystem holding the embedded JetStream store (nats.embedded.store_dir)."}, []string{"kind"})
	sv.storeGauges = free
	sv.health = embedded.NewHealth(embedded.HealthConfig{StoreDir: sv.cfg.NATS.Embedded.StoreDir, Logger: sv.log,
		Free: func(f, total uint64) {
			free.WithLabelValues("free").Set(float64(f))
			free.WithLabelValues("total").Set(float64(total))
		},
		Reopen: func() error {
			// The health part is stopped before close reads sv.ns. The
			// restart keeps the port, also one the OS chose.
			if a, ok := sv.ns.Addr().(*net.TCPAddr); ok {
				opts.Port = a.Port
			}
			sv.ns.Shutdown()
			sv.ns.WaitForShutdown()
			ns, _, err := embedded.Run(*opts)
			if err != nil {
				return fmt.Errorf("restart the embedded NATS: %w", err)
			}
			sv.ns = ns
			return nil
		}})
	opts.OnWriteError = sv.health.WriteError
}

// storeReady makes /readyz answer 503 naming the store while it cannot
// write: a probe of the streams' health, not of the connection.
func (sv *daemon) storeReady() webhooks.ReadyCheck {
	return webhooks.ReadyCheck{Name: "store", Check: func(context.Context) error { return sv.health.Writable() }}
}

// cliPublishBudget is the least publish budget of a CLI command: longer
// than JetStream's longest leader election (4 to 9 s after the loss is
// noticed) with room for the noticing.
const cliPublishBudget = 30 * time.Second

// publisherConfig is c's publisher configuration for a CLI command. When
// the command publishes to the embedded server of a serve running beside
// it (found through its state file), it flushes the store's streams
// itself before printing a job ID, as serve's own producers do: the ID is
// a promise that the job is on disk.
//
// Its publish budget is at least cliPublishBudget: no webhook sender's
// timeout bounds a command, so it rides through a whole leader election
// of an outside NATS cluster rather than failing inside one.
func (a *app) publisherConfig(c *config.Config, subj jobs.Subjects) queue.PublisherConfig {
	pc := c.PublisherConfig(subj)
	pc.Budget = max(pc.Budget, cliPublishBudget)
	if pc.Durable == nil && a.discovery.nats != "" && embedded.GroupCommit(c.NATS.Embedded.SyncInterval) {
		pc.Durable = c.GroupSync(filepath.Dir(a.discovery.file))
	}
	return pc
}
