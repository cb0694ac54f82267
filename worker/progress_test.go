package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// gatedAPI lets the first call through and holds the later ones until
// release, which they then fail with errKilled: a process killed while
// its second call is in flight.
type gatedAPI struct {
	API
	calls   atomic.Int32
	holding chan struct{} // closed when a later call is held
	release chan struct{}
}

func (g *gatedAPI) Refresh(ctx context.Context, tg apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error) {
	switch g.calls.Add(1) {
	case 1:
		return g.API.Refresh(ctx, tg, r)
	case 2:
		close(g.holding)
	}
	<-g.release
	return apiclient.RefreshResult{}, errKilled
}

// A job of three calls killed after its first call landed is redelivered
// and sends only the two calls' worth of paths no call took: the accepted
// paths were recorded when their call landed, not when the job was
// handed back (which a killed process never does).
func TestWorkerCrashedJobSendsOnlyWhatNoCallTook(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	h.publish(refreshJob(urls("example.com", 0, 3000)...))
	cfg := fastConfig()
	cfg.Submitters = 1 // calls one after the other
	cfg.Tracker.Disabled = true

	nc, js := h.connect()
	kv, err := OpenKVStore(h.ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	gate := &gatedAPI{API: h.client, holding: make(chan struct{}), release: make(chan struct{})}
	_, stop := h.runWorkerWith(cfg, "doomed", js, kv, gate)
	select {
	case <-gate.holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the second call never started")
	}
	// kill -9: the connection goes, and nothing the process does after
	// reaches the server.
	nc.Close()
	close(gate.release)
	stop()
	if n := len(h.emu.Paths(apiclient.CDN().Actions.Refresh)); n != 1000 {
		t.Fatalf("%d paths landed before the crash, want 1,000", n)
	}

	h.runWorker(cfg, "after")
	h.waitFor("queue drained", 30*time.Second, h.drained)
	got := h.emu.Paths(apiclient.CDN().Actions.Refresh)
	if len(got) != 3000 || len(uniq(got)) != 3000 {
		t.Fatalf("%d paths sent (%d distinct) for 3,000: the crash paid for %d twice", len(got), len(uniq(got)), len(got)-len(uniq(got)))
	}
}
