package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// A full disk under the embedded store: the write error is known at once
// (Writable refuses, naming the stream), nothing acknowledged is lost, and
// once space is back one check re-opens JetStream and intake resumes,
// without a restart of the server.
func TestHealthRidesThroughAFullDisk(t *testing.T) {
	t.Parallel()
	dir := jobstest.MountTmpfs(t, "24m")
	var lowWarned bool
	var ns *server.Server
	opts := embedded.Options{Port: embedded.RandomPort, StoreDir: dir, SyncInterval: time.Second}
	h := embedded.NewHealth(embedded.HealthConfig{StoreDir: dir, WarnBytes: 4 << 20,
		Free: func(free, _ uint64) { lowWarned = lowWarned || free < 4<<20 },
		Reopen: func() error {
			ns.Shutdown()
			ns.WaitForShutdown()
			var err error
			ns, _, err = embedded.Run(opts)
			return err
		}})
	opts.OnWriteError = h.WriteError
	ns, url, err := embedded.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Port = ns.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "W", Subjects: []string{"w.>"}}); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]bool{}
	publish := func(i int) error {
		pctx, cancel := ctxTimeout(t, 2*time.Second)
		defer cancel()
		if err := h.Writable(); err != nil {
			return err
		}
		a, err := js.Publish(pctx, fmt.Sprintf("w.%d", i), make([]byte, 2048))
		if err == nil {
			acked[a.Sequence] = true
		}
		return err
	}
	for i := range 20 {
		if err := publish(i); err != nil {
			t.Fatal(err)
		}
	}
	filler := jobstest.FillDisk(t, dir)
	h.Check()
	if !lowWarned {
		t.Error("the free-space gauge never showed the disk nearly full")
	}
	// Publish until the store hits the full disk (the block file may take
	// a few more messages first).
	failed := false
	for i := 20; i < 2000 && !failed; i++ {
		failed = publish(i) != nil
	}
	if !failed {
		t.Fatal("2,000 publishes of 2 KiB stored on a full 24 MiB disk")
	}
	werr := h.Writable()
	if !errors.Is(werr, embedded.ErrStoreUnwritable) {
		t.Fatalf("after the failed write, Writable = %v, want embedded.ErrStoreUnwritable", werr)
	}
	t.Logf("while full: %v", werr)
	h.Check() // still full: no recovery
	if h.Writable() == nil || h.Recoveries() != 0 {
		t.Fatal("recovered while the disk was still full")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.Check()
	if err := h.Writable(); err != nil {
		t.Fatalf("space back, one check later: %v", err)
	}
	accepted := 0
	for i := range 48 {
		if publish(10_000+i) == nil {
			accepted++
		}
	}
	if accepted < 40 {
		t.Errorf("%d of 48 publishes accepted after the space came back, want at least 40", accepted)
	}
	s, err := js.Stream(ctx, "W")
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for seq := range acked {
		if _, err := s.GetMsg(ctx, seq); err != nil {
			lost++
		}
	}
	t.Logf("%d acknowledged, %d lost, %d of 48 accepted after the space came back, %d JetStream re-opens", len(acked), lost, accepted, h.Recoveries())
	if lost > 0 {
		t.Errorf("%d of %d acknowledged messages lost", lost, len(acked))
	}
}

func ctxTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
