package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// mountTmpfs mounts a tmpfs of size under a temporary directory for the
// test and unmounts it at the end. Without the right to mount it skips,
// except under CI=true, where the test must run.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a %s tmpfs for the full-disk test (needs root): %v", size, err)
		}
		t.Skipf("full-disk test needs to mount a tmpfs (root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file into dir until the filesystem is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last bytes too, so that even a small write fails.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	return p
}

// A full disk under the embedded store: the write error is known at once
// (Writable refuses, naming the stream), nothing acknowledged is lost, and
// once space is back one check re-opens JetStream and intake resumes,
// without a restart of the server.
func TestHealthRidesThroughAFullDisk(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "24m")
	var lowWarned bool
	h := NewHealth(HealthConfig{StoreDir: dir, WarnBytes: 4 << 20, Free: func(free, _ uint64) { lowWarned = lowWarned || free < 4<<20 }})
	ns, url, err := Run(Options{Port: RandomPort, StoreDir: dir, SyncInterval: time.Second, OnWriteError: h.WriteError})
	if err != nil {
		t.Fatal(err)
	}
	h.SetServer(ns)
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
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
	filler := fill(t, dir)
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
	if !errors.Is(werr, ErrStoreUnwritable) {
		t.Fatalf("after the failed write, Writable = %v, want ErrStoreUnwritable", werr)
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
