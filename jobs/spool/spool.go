// Package spool keeps the jobs a producer accepted while the queue could
// not take them, on the local disk, and hands them to the queue once it
// can.
//
// A hook's sender is answered within GitHub's 10 s; a JetStream cluster
// that lost the leader of the work stream elects a new one 4 to 9 s after
// the loss was noticed, longer than the publish budget can wait. A
// Publisher wraps the queue's publisher: when a publish gives up for a
// passing reason (queue.ErrUnavailable), it writes the request to a file in
// its directory, flushes the file and the directory to disk, and answers
// as if the queue had taken it. Its drain loop publishes the spooled
// requests in the order they came, with the same job IDs and idempotency
// key, and removes each file once the queue acknowledged it.
//
// The spool is this host's disk, not the cluster's replicas: a spooled
// job survives a crash of the process and a power cut, and is lost with
// the disk. docs/durability.md says when to use it.
package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// DefaultMaxBytes bounds the spool's files together.
const DefaultMaxBytes = 64 << 20

// ErrFull is returned (wrapped with the queue's own error) when a request
// does not fit in the spool.
var ErrFull = errors.New("spool full")

// Next is the queue's publisher (queue.Publisher).
type Next interface {
	PublishSet(ctx context.Context, key string, js []*jobs.Job) ([]queue.Ack, error)
	Report(ctx context.Context, ev jobs.StatusEvent) error
}

// Config configures a Publisher.
type Config struct {
	// Dir holds the spooled requests, one file each; created if missing.
	Dir string
	// MaxBytes bounds the files together; default DefaultMaxBytes.
	MaxBytes int64
	// Retry is the wait between drain attempts while the queue still
	// refuses; default one second.
	Retry  time.Duration
	Logger *slog.Logger
}

// Publisher is a jobs publisher that spools what the queue could not take.
type Publisher struct {
	next   Next
	dir    string
	max    int64
	retry  time.Duration
	log    *slog.Logger
	wake   chan struct{}
	mu     sync.Mutex // guards bytes and the file sequence
	bytes  int64
	seq    uint64
	queued atomic.Int64
	lock   *embedded.StoreLock
	// drained, when set, is told each entry the drain loop finished (tests).
	drained func(name string, err error)
}

// entry is one spooled request, as stored.
type entry struct {
	V   int    `json:"v"`
	Key string `json:"key,omitempty"`
	At  time.Time
	// Jobs are the jobs in their wire format (jobs.Encode).
	Jobs []json.RawMessage `json:"jobs"`
}

// Open returns a Publisher spooling to cfg.Dir in front of next, with the
// files a previous run left counted (Run drains them).
func Open(next Next, cfg Config) (*Publisher, error) {
	if cfg.Dir == "" {
		return nil, errors.New("spool: a directory is required (webhooks.spool_dir)")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory %s (webhooks.spool_dir): %w", cfg.Dir, err)
	}
	lock, err := embedded.LockDir(cfg.Dir, "webhooks.spool_dir", "two processes draining one spool publish its requests twice")
	if err != nil {
		return nil, err
	}
	p := &Publisher{next: next, dir: cfg.Dir, max: cfg.MaxBytes, retry: cfg.Retry, log: cfg.Logger, wake: make(chan struct{}, 1), lock: lock}
	names, err := p.entries()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(p.dir, n)); err == nil {
			p.bytes += fi.Size()
		}
		if s, ok := seqOf(n); ok && s > p.seq {
			p.seq = s
		}
	}
	p.queued.Store(int64(len(names)))
	if len(names) > 0 {
		p.log.Warn("spooled jobs from an earlier run; publishing them", "requests", len(names), "dir", p.dir)
		p.poke()
	}
	return p, nil
}

// Close releases the spool directory; what it holds stays for the next
// Open.
func (p *Publisher) Close() error { return p.lock.Unlock() }

// Len returns how many requests wait in the spool.
func (p *Publisher) Len() int { return int(p.queued.Load()) }

// Report forwards a status event; status events are not spooled.
func (p *Publisher) Report(ctx context.Context, ev jobs.StatusEvent) error {
	return p.next.Report(ctx, ev)
}

// PublishSet publishes through the queue; when the queue gives up for a
// passing reason, it spools the request and answers with an Ack per job
// marked Spooled. Any other error is returned as it came.
func (p *Publisher) PublishSet(ctx context.Context, key string, js []*jobs.Job) ([]queue.Ack, error) {
	acks, err := p.next.PublishSet(ctx, key, js)
	if err == nil || !spoolable(err) {
		return acks, err
	}
	rest := js
	if key == "" {
		// Without a key each job is its own message: the ones the queue
		// acknowledged before it gave up are stored and stay out of the
		// spool (a later publish of them could fall past the stream's
		// duplicate window and be stored twice).
		rest = js[len(acks):]
	}
	if serr := p.write(key, rest); serr != nil {
		return acks, fmt.Errorf("%w (and could not spool it: %w)", err, serr)
	}
	out := make([]queue.Ack, len(js))
	for i, j := range js {
		if i < len(acks) {
			out[i] = acks[i]
			continue
		}
		out[i] = queue.Ack{JobID: j.ID, Spooled: true}
	}
	p.log.Warn("queue unavailable; request spooled to disk, to be published once the queue takes it",
		"job", js[0].ID, "jobs", len(js), "cause", err.Error(), "spooled", p.Len())
	return out, nil
}

// spoolable tells the queue's passing refusals (no leader, no responders,
// a reconnect, past the publish budget) from its final ones. A store that
// cannot write is this host's disk: a spool on it would fail as well.
func spoolable(err error) bool {
	return errors.Is(err, queue.ErrUnavailable) && !errors.Is(err, queue.ErrStoreUnwritable)
}

// write stores one request durably: a temporary file, flushed, renamed,
// and the directory flushed.
func (p *Publisher) write(key string, js []*jobs.Job) error {
	e := entry{V: 1, Key: key, At: time.Now().UTC()}
	for _, j := range js {
		b, err := jobs.Encode(j)
		if err != nil {
			return err
		}
		e.Jobs = append(e.Jobs, b)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.bytes+int64(len(data)) > p.max {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d bytes spooled, webhooks.spool_max_bytes is %d", ErrFull, p.bytes, p.max)
	}
	p.bytes += int64(len(data))
	p.seq++
	name := fmt.Sprintf("%020d.json", p.seq)
	p.mu.Unlock()
	if err := writeDurable(p.dir, name, data); err != nil {
		p.mu.Lock()
		p.bytes -= int64(len(data))
		p.mu.Unlock()
		return err
	}
	p.queued.Add(1)
	p.poke()
	return nil
}

func writeDurable(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write spool file in %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p *Publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// entries lists the spooled requests, oldest first.
func (p *Publisher) entries() ([]string, error) {
	des, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("read spool directory %s: %w", p.dir, err)
	}
	var names []string
	for _, de := range des {
		if _, ok := seqOf(de.Name()); ok && de.Type().IsRegular() {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names) // zero-padded sequence numbers
	return names, nil
}

func seqOf(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".json")
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// Run drains the spool until ctx ends: each request is published in the
// order it came; one the queue still refuses is tried again after the
// retry wait, and the ones behind it wait for it.
func (p *Publisher) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
		if p.drain(ctx) {
			t.Reset(p.retry)
		}
	}
}

// drain publishes what the spool holds; it reports whether something is
// left for a later attempt.
func (p *Publisher) drain(ctx context.Context) (left bool) {
	names, err := p.entries()
	if err != nil {
		p.log.Error("cannot read the spool; retrying", "err", err)
		return true
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return true
		}
		err := p.publishEntry(ctx, name)
		if p.drained != nil {
			p.drained(name, err)
		}
		if err != nil {
			return true
		}
	}
	return false
}

// publishEntry publishes one spooled request and removes its file. An
// entry that can never be published (unreadable, or refused by the queue
// for good) is moved aside to failed/ with an ERROR, never deleted.
func (p *Publisher) publishEntry(ctx context.Context, name string) error {
	path := filepath.Join(p.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return p.setAside(name, fmt.Errorf("read: %w", err))
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return p.setAside(name, fmt.Errorf("decode: %w", err))
	}
	js := make([]*jobs.Job, 0, len(e.Jobs))
	for i, raw := range e.Jobs {
		j, err := jobs.Decode(raw)
		if err != nil {
			return p.setAside(name, fmt.Errorf("job %d: %w", i, err))
		}
		js = append(js, j)
	}
	if len(js) == 0 {
		return p.remove(name, int64(len(data)))
	}
	_, err = p.next.PublishSet(ctx, e.Key, js)
	if err != nil && errors.Is(err, queue.ErrIdempotencyConflict) {
		// Another request with this key and other content was stored
		// while this one waited here: this one was answered 202, so it is
		// published under its own job IDs rather than dropped.
		p.log.Warn("spooled request's idempotency key was taken by other content meanwhile; publishing it under its own job IDs",
			"job", js[0].ID, "key", e.Key)
		_, err = p.next.PublishSet(ctx, "", js)
	}
	switch {
	case err == nil:
		p.log.Info("spooled request published", "job", js[0].ID, "jobs", len(js), "waited", time.Since(e.At).Round(time.Millisecond).String())
		return p.remove(name, int64(len(data)))
	case spoolable(err) || errors.Is(err, queue.ErrStoreUnwritable) || ctx.Err() != nil:
		return err
	default:
		return p.setAside(name, err)
	}
}

func (p *Publisher) remove(name string, size int64) error {
	if err := os.Remove(filepath.Join(p.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.log.Error("cannot remove a published spool file; it would be published again (the queue dedupes it)", "file", name, "err", err)
		return err
	}
	if err := syncDir(p.dir); err != nil {
		p.log.Warn("cannot flush the spool directory", "err", err)
	}
	p.settled(size)
	return nil
}

func (p *Publisher) settled(size int64) {
	p.mu.Lock()
	p.bytes -= size
	p.mu.Unlock()
	p.queued.Add(-1)
}

// setAside moves an entry that can never be published to failed/ and
// says so; it returns nil so that the entries behind it go on.
func (p *Publisher) setAside(name string, cause error) error {
	failed := filepath.Join(p.dir, "failed")
	size := int64(0)
	if fi, err := os.Stat(filepath.Join(p.dir, name)); err == nil {
		size = fi.Size()
	}
	err := os.MkdirAll(failed, 0o700)
	if err == nil {
		err = os.Rename(filepath.Join(p.dir, name), filepath.Join(failed, name))
	}
	if err != nil {
		p.log.Error("a spooled request cannot be published nor set aside; it stays in the spool", "file", name, "cause", cause.Error(), "err", err)
		return err
	}
	p.log.Error("a spooled request cannot be published; moved aside for an operator", "file", filepath.Join(failed, name), "cause", cause.Error())
	p.settled(size)
	return nil
}
