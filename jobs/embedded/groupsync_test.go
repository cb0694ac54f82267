package embedded

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// blockedFlushes replaces g's flush with one that waits for release and
// reports each start on started.
func blockedFlushes(g *GroupSync) (started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 100), make(chan struct{})
	g.flushFn = func() error {
		started <- struct{}{}
		<-release
		return nil
	}
	return started, release
}

// waitCallers waits until the round queued behind the flush in flight
// holds n callers.
func waitCallers(t *testing.T, g *GroupSync, n int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	// Callers join a round under g.mu and signal nothing: look every ms.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		g.mu.Lock()
		got := 0
		for _, r := range g.queued {
			got += r.callers
		}
		if g.next != nil {
			got += g.next.callers
		}
		g.mu.Unlock()
		if got == n {
			return
		}
		select {
		case <-tick.C:
		case <-timeout.C:
			t.Fatalf("%d callers waiting, want %d", got, n)
		}
	}
}

func TestGroupSyncSharesOneFlushAmongCallersThatArriveDuringAFlush(t *testing.T) {
	t.Parallel()
	g := NewGroupSync(t.TempDir(), "W")
	started, release := blockedFlushes(g)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := g.Sync(context.Background(), 100); err != nil {
			t.Error(err)
		}
	})
	<-started // a lone caller's flush starts at once
	for range 20 {
		wg.Go(func() {
			if err := g.Sync(context.Background(), 100); err != nil {
				t.Error(err)
			}
		})
	}
	waitCallers(t, g, 20)
	close(release)
	wg.Wait()
	if got := g.Flushes(); got != 2 {
		t.Fatalf("21 callers, 20 of them during the first flush: %d flushes, want 2", got)
	}
}

func TestGroupSyncCapsCallersAndBytesPerRound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		maxCallers int
		maxBytes   int64
		want       int
	}{
		{"callers", 5, 1 << 30, 1 + 4},  // 20 waiting callers in rounds of 5
		{"bytes", 1 << 20, 1000, 1 + 2}, // 20 callers of 100 bytes in rounds of 1000
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewGroupSync(t.TempDir(), "W")
			g.maxCallers, g.maxBytes = tc.maxCallers, tc.maxBytes
			started, release := blockedFlushes(g)
			var wg sync.WaitGroup
			wg.Go(func() { _ = g.Sync(context.Background(), 100) })
			<-started
			for range 20 {
				wg.Go(func() { _ = g.Sync(context.Background(), 100) })
			}
			waitCallers(t, g, 20)
			close(release)
			wg.Wait()
			if got := g.Flushes(); got != tc.want {
				t.Fatalf("%d flushes, want %d", got, tc.want)
			}
		})
	}
}

func TestGroupSyncFlushesTheEmbeddedServersStreamFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns, url, err := Run(Options{Port: RandomPort, StoreDir: dir, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "W", Subjects: []string{"w"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), "w", []byte("job")); err != nil {
		t.Fatal(err)
	}
	g := NewGroupSync(dir, "W", "KV_absent")
	if err := g.Sync(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	if blocks := g.known[StreamDir(dir, "W")]; len(blocks) == 0 {
		t.Fatalf("no block file of stream W found under %s: the store layout is not what GroupSync expects", dir)
	}
	if err := NewGroupSync(dir, "MISSING").Sync(t.Context(), 1); err == nil {
		t.Fatal("a missing work stream directory flushed without an error")
	}
}

// TestGroupSyncFlushesOnlyTheBlocksThatChanged: a round fsyncs a block
// that was written since its last fsync (appended, or new) and skips one
// that was not, in every stream it flushes.
func TestGroupSyncFlushesOnlyTheBlocksThatChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	msgs := blockDir(t, dir, "W")
	idle := blockDir(t, dir, "KV_idle")
	write := func(path, data string) { appendTo(t, path, data) }
	first, second, kv := filepath.Join(msgs, "1.blk"), filepath.Join(msgs, "2.blk"), filepath.Join(idle, "1.blk")
	write(first, "job 1")
	write(kv, "key")
	g := NewGroupSync(dir, "W", "KV_idle")
	var mu sync.Mutex
	var synced []string
	g.fsyncFn = func(p string) error {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(p, ".blk") {
			synced = append(synced, strings.TrimPrefix(p, dir))
		}
		return fsyncPath(p)
	}
	round := func(want ...string) {
		t.Helper()
		mu.Lock()
		synced = nil
		mu.Unlock()
		if err := g.Sync(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range want {
			want[i] = strings.TrimPrefix(want[i], dir)
		}
		slices.Sort(synced)
		slices.Sort(want)
		if !slices.Equal(synced, want) {
			t.Fatalf("blocks flushed %q, want %q", synced, want)
		}
	}
	round(first, kv) // the first round flushes every block
	round()          // nothing written since
	write(first, "job 2")
	round(first)
	write(second, "job 3") // a new block
	round(second)
	write(kv, "key 2")
	write(second, "job 4")
	round(kv, second)
}

// TestGroupSyncListsBlocksOnlyWhenTheirDirectoryMayHaveChanged: a round
// lists a stream's blocks again when its block directory changed, or
// changed so recently that the kernel's coarse clock may hide a second
// change, and trusts the last listing otherwise; a block created since is
// always flushed.
func TestGroupSyncListsBlocksOnlyWhenTheirDirectoryMayHaveChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	msgs := blockDir(t, dir, "W")
	first, second := filepath.Join(msgs, "1.blk"), filepath.Join(msgs, "2.blk")
	appendTo(t, first, "job 1")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(msgs, old, old); err != nil {
		t.Fatal(err)
	}
	g := NewGroupSync(dir, "W")
	var mu sync.Mutex
	lists := 0
	var synced []string
	g.listFn = func(pattern string) ([]string, error) {
		mu.Lock()
		lists++
		mu.Unlock()
		return filepath.Glob(pattern)
	}
	g.fsyncFn = func(p string) error {
		mu.Lock()
		synced = append(synced, filepath.Base(p))
		mu.Unlock()
		return fsyncPath(p)
	}
	round := func(what string, wantLists int, wantSynced ...string) {
		t.Helper()
		mu.Lock()
		lists, synced = 0, nil
		mu.Unlock()
		if err := g.Sync(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		var blocks []string
		for _, s := range synced {
			if strings.HasSuffix(s, ".blk") {
				blocks = append(blocks, s)
			}
		}
		if lists != wantLists || !slices.Equal(blocks, wantSynced) {
			t.Fatalf("%s: %d listings, blocks flushed %q; want %d, %q", what, lists, blocks, wantLists, wantSynced)
		}
	}
	round("first round", 1, "1.blk")
	round("nothing changed", 0)
	appendTo(t, first, "job 2")
	round("a block appended to", 0, "1.blk")
	appendTo(t, second, "job 3")
	round("a block created", 1, "2.blk")
	// The directory's stamp is as listed but recent: a block created in
	// the same clock tick would not have changed it.
	round("directory changed within the last second", 1)
	if err := os.Chtimes(msgs, old, old); err != nil {
		t.Fatal(err)
	}
	round("directory stamp changed", 1)
	round("directory old and unchanged", 0)
}

// appendTo appends data to the file at path, creating it, as JetStream
// appends a message to a block.
func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// blockDir makes the block directory of stream under the store dir, as
// the embedded server lays it out, and returns it.
func blockDir(t *testing.T, dir, stream string) string {
	t.Helper()
	msgs := filepath.Join(StreamDir(dir, stream), "msgs")
	if err := os.MkdirAll(msgs, 0o755); err != nil {
		t.Fatal(err)
	}
	return msgs
}
