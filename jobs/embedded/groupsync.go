package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Group commit caps: a round of GroupSync answers at most this many
// callers, whose messages together hold at most this many bytes; callers
// beyond either cap wait for the next round. They bound how long the last
// caller of a round waits for the first one's flush.
const (
	DefaultGroupMaxCallers = 4096
	DefaultGroupMaxBytes   = 64 << 20
)

// GroupSync makes acknowledged writes of the embedded server durable
// together: a producer whose publish JetStream acknowledged calls Sync,
// which returns once the streams' files are flushed to disk (fsync). Calls
// that arrive while a flush is in flight share the next one, so a burst of
// N hooks costs about two flushes instead of N, and a lone call starts its
// flush at once (no added wait when idle).
//
// It relies on what nats-server's file store does for a stream with one
// replica: each message is written to its block file (a write(2), in the
// OS page cache) before the publish is acknowledged, and only the fsync is
// left to the sync interval. Flushing the stream's block files after the
// acknowledgement therefore makes every message acknowledged before the
// flush began durable. The first flush of each stream also flushes its
// metadata files and directories, which nats-server writes without a sync
// unless it syncs every write.
type GroupSync struct {
	storeDir string
	streams  []string

	mu      sync.Mutex
	running bool
	next    *syncRound
	queued  []*syncRound // full rounds waiting behind the flush in flight
	// known holds, per stream directory, the block files seen at the last
	// flush; a new block (or the first flush) also flushes the directory.
	known map[string][]string
	// flushed holds, per stream directory, each block's stamp as it was
	// just before its last fsync: a block whose stamp has not changed
	// since holds nothing unflushed and is skipped.
	flushed map[string]map[string]fileStamp
	// listed holds, per stream directory, its block directory's stamp
	// when known was listed.
	listed map[string]fileStamp

	maxCallers int
	maxBytes   int64
	// flushes counts rounds, for tests and the benchmark.
	flushes int
	// flushFn is flush, replaced by tests.
	flushFn func() error
	// fsyncFn is fsyncPath, replaced by tests.
	fsyncFn func(path string) error
	// listFn is filepath.Glob, replaced by tests.
	listFn func(pattern string) ([]string, error)
}

// fileStamp tells whether a block file changed: JetStream appends every
// message it stores, so a stored message changes the size and the
// modification time. A stamp is taken before the fsync: a write that
// lands during the fsync changes the stamp again and is flushed by the
// next round.
type fileStamp struct {
	ino, size        uint64
	mtimeNs, ctimeNs int64
}

func stampOf(path string) (fileStamp, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileStamp{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileStamp{ino: st.Ino, size: uint64(st.Size),
		mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano()}, nil
}

type syncRound struct {
	done    chan struct{}
	err     error
	callers int
	bytes   int64
}

// NewGroupSync returns a GroupSync for the named streams (a key-value
// bucket's stream is "KV_<bucket>") of the embedded server whose store
// directory is storeDir.
func NewGroupSync(storeDir string, streams ...string) *GroupSync {
	g := &GroupSync{storeDir: storeDir, streams: streams, known: map[string][]string{},
		flushed: map[string]map[string]fileStamp{}, listed: map[string]fileStamp{},
		maxCallers: DefaultGroupMaxCallers, maxBytes: DefaultGroupMaxBytes}
	g.flushFn = g.flush
	g.fsyncFn = fsyncPath
	g.listFn = filepath.Glob
	return g
}

// Flushes returns how many flush rounds ran.
func (g *GroupSync) Flushes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.flushes
}

// Sync returns once everything the embedded server acknowledged before the
// call is on disk, sharing one flush with the callers that arrive while
// another flush is in flight. size is what the caller wrote (for the
// byte cap); ctx bounds the wait, not the flush.
func (g *GroupSync) Sync(ctx context.Context, size int) error {
	g.mu.Lock()
	if g.next == nil || g.next.callers >= g.maxCallers || (g.next.bytes > 0 && g.next.bytes+int64(size) > g.maxBytes) {
		// A full round is already queued behind the flush in flight: the
		// loop picks the rounds up in order.
		if g.next != nil {
			g.queued = append(g.queued, g.next)
		}
		g.next = &syncRound{done: make(chan struct{})}
	}
	r := g.next
	r.callers++
	r.bytes += int64(size)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("wait for the store's flush: %w", ctx.Err())
	}
}

// loop flushes round after round until none is waiting.
func (g *GroupSync) loop() {
	for {
		// The goroutines that are ready to run go first: each may be a
		// handler whose publish was just acknowledged, about to call
		// Sync, and joins this round instead of waiting for the next
		// one. Bigger rounds mean fewer fsyncs for the same hooks. When
		// nothing else is ready this returns at once: a lone caller's
		// flush does not wait.
		runtime.Gosched()
		g.mu.Lock()
		var r *syncRound
		switch {
		case len(g.queued) > 0:
			r, g.queued = g.queued[0], g.queued[1:]
		case g.next != nil:
			r, g.next = g.next, nil
		default:
			g.running = false
			g.mu.Unlock()
			return
		}
		g.flushes++
		g.mu.Unlock()
		r.err = g.flushFn()
		close(r.done)
	}
}

// flush fsyncs the block files of every stream, and its metadata and
// directories the first time and whenever its blocks changed. The first
// stream (the work stream) must exist: a store laid out otherwise than
// this code expects must fail loudly, not skip the flush. The others are
// skipped until created.
func (g *GroupSync) flush() error {
	errs := make([]error, len(g.streams))
	var wg sync.WaitGroup
	for i, name := range g.streams {
		// The streams' files are flushed side by side: a round takes
		// as long as the slowest, not the sum.
		wg.Go(func() {
			err := g.flushStream(name)
			if i > 0 && errors.Is(err, errNoStream) {
				err = nil
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// errNoStream marks a stream whose block directory does not exist (yet).
var errNoStream = errors.New("no such stream")

// racyListing is how recent a block directory's modification time may be
// for its listing to be trusted no further than that moment: the kernel
// stamps a directory with a coarse clock (a tick of milliseconds), so a
// block created in the same tick as the last listing leaves the stamp as
// it was. Within this window of the stamp the directory is listed again
// (git's "racily clean" index entries are the same problem).
const racyListing = time.Second

func (g *GroupSync) flushStream(name string) error {
	dir := StreamDir(g.storeDir, name)
	msgs := filepath.Join(dir, "msgs")
	dirStamp, err := stampOf(msgs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: %w", errNoStream, err)
		}
		return fmt.Errorf("flush stream %s to disk: its directory: %w", name, err)
	}
	g.mu.Lock()
	before := g.flushed[dir]
	prev, seen := g.known[dir]
	listed, listedOK := g.listed[dir]
	g.mu.Unlock()
	// The blocks are listed again only when the directory changed since
	// the last listing (a block created or removed), or may have changed
	// within the kernel's clock tick: a listing is several system calls
	// and a round's hooks wait for them.
	blocks := prev
	if !seen || !listedOK || listed != dirStamp || time.Since(time.Unix(0, dirStamp.mtimeNs)) < racyListing {
		if blocks, err = g.listFn(filepath.Join(msgs, "*.blk")); err != nil {
			return fmt.Errorf("list blocks of stream %s: %w", name, err)
		}
	}
	// Only the blocks that changed since their last fsync are flushed: an
	// fsync of a clean file still costs a disk cache flush on ext4, and a
	// round usually finds one block of one stream written (the work
	// stream's last; the tick stream and the idempotency bucket only when
	// a tick or a keyed hook came).
	after := make(map[string]fileStamp, len(blocks))
	for _, b := range blocks {
		st, err := stampOf(b)
		if err == nil && before[b] == st {
			after[b] = st
			continue
		}
		if err == nil {
			err = g.fsyncFn(b)
		}
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// A block removed since the listing held only
				// acknowledged and deleted messages.
				continue
			}
			// Any other error is the disk's.
			return fmt.Errorf("flush stream %s to disk: %w", name, err)
		}
		after[b] = st
	}
	g.mu.Lock()
	g.flushed[dir] = after
	g.mu.Unlock()
	if seen && slices.Equal(prev, blocks) {
		g.mu.Lock()
		g.listed[dir] = dirStamp
		g.mu.Unlock()
		return nil
	}
	if !seen {
		// The first flush: the stream's metadata (meta.inf, its checksum,
		// the consumers') and every directory down from the store, so
		// that the stream itself survives a power cut.
		if err := fsyncTree(dir); err != nil {
			return fmt.Errorf("flush metadata of stream %s: %w", name, err)
		}
		for d := filepath.Dir(dir); len(d) >= len(g.storeDir); d = filepath.Dir(d) {
			if err := fsyncPath(d); err != nil {
				return fmt.Errorf("flush directory %s: %w", d, err)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	} else if err := g.fsyncFn(msgs); err != nil {
		return fmt.Errorf("flush block directory of stream %s: %w", name, err)
	}
	// The listing is trusted from now on only once the directory that
	// holds a new block is flushed too.
	g.mu.Lock()
	g.known[dir] = blocks
	g.listed[dir] = dirStamp
	g.mu.Unlock()
	return nil
}

// StreamDir is where the embedded server keeps a stream of the default
// account under storeDir.
func StreamDir(storeDir, stream string) string {
	return filepath.Join(storeDir, "jetstream", "$G", "streams", stream)
}

// fsyncTree fsyncs every file and directory under dir, dir included.
func fsyncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := fsyncPath(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
}

// fsyncPath flushes one file or directory. fsync works on the inode, so a
// descriptor of our own flushes what the server wrote through its own.
func fsyncPath(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// FlushStore flushes every file and directory of the store to disk. serve
// calls it after the embedded server stopped, so that a power cut after a
// clean stop loses nothing, whatever the sync setting.
func FlushStore(storeDir string) error {
	if err := fsyncTree(storeDir); err != nil {
		return fmt.Errorf("flush store %s to disk: %w", storeDir, err)
	}
	return nil
}
