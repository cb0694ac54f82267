package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrStoreUnwritable marks a publish refused at once because the embedded
// store is known not to be able to write (a full disk): nothing was
// stored. The producer answers "unavailable"; once Health found the disk
// writable again and re-opened the streams, publishes go through.
var ErrStoreUnwritable = errors.New("job store cannot write")

// Health watches the embedded server's store: it learns of write errors
// from the server (Options.OnWriteError), refuses publishes at once while
// a stream cannot write (Writable), probes the disk every second and,
// once a probe write succeeds, re-opens the store (HealthConfig.Reopen) so
// the streams drop the write error nats-server keeps until they are
// opened again. It also
// measures the store's free space (a gauge and a WARN line before it
// fills), as nats-server's max_file_store and Kafka's log-dir checks do.
type Health struct {
	cfg HealthConfig

	mu          sync.Mutex
	broken      map[string]string // stream → the error its store reported
	lastRecover time.Time
	low         bool // free space below the WARN threshold
	free, total uint64
	recoveries  int
}

// HealthConfig configures a Health.
type HealthConfig struct {
	StoreDir string
	// Reopen opens the store's streams again after a write error, once
	// the disk takes writes: serve restarts the embedded server on the
	// same port and store (clients reconnect by themselves). Shutting
	// down and enabling JetStream alone inside the running server races
	// with JetStream API requests in nats-server v2.15. nil probes and
	// reports only.
	Reopen func() error
	Logger *slog.Logger
	// Free receives the store's free and total bytes after every check;
	// nil drops them.
	Free func(free, total uint64)
	// WarnBelow is the free fraction under which a WARN line is logged;
	// default 0.10. WarnBytes is the absolute floor; default 256 MiB. The
	// WARN fires when free space is below either.
	WarnBelow float64
	WarnBytes uint64
	// ProbeBytes is what the recovery probe writes and flushes before
	// the streams are re-opened; default 1 MiB.
	ProbeBytes int
	// Every is the check interval; default 1s.
	Every time.Duration
}

// NewHealth returns a Health; call Run to start its checks.
func NewHealth(cfg HealthConfig) *Health {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WarnBelow <= 0 {
		cfg.WarnBelow = 0.10
	}
	if cfg.WarnBytes == 0 {
		cfg.WarnBytes = 256 << 20
	}
	if cfg.ProbeBytes <= 0 {
		cfg.ProbeBytes = 1 << 20
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	return &Health{cfg: cfg, broken: map[string]string{}}
}

// WriteError records that stream's store failed to write; give it to
// Options.OnWriteError.
func (h *Health) WriteError(stream, reason string) {
	// Writable's answer reaches /readyz and hook senders: the error's
	// last part ("no space left on device"), not the store's paths.
	short := reason
	if i := strings.LastIndex(reason, ": "); i >= 0 {
		short = reason[i+2:]
	}
	h.mu.Lock()
	_, known := h.broken[stream]
	h.broken[stream] = short
	h.mu.Unlock()
	if !known {
		h.cfg.Logger.Error("job store cannot write; publishes are refused until the disk takes writes again",
			slog.String("stream", stream), slog.String("store_dir", h.cfg.StoreDir), slog.String("error", reason),
			slog.String("hint", "free space on the store's disk; intake resumes by itself within seconds"))
	}
}

// Writable returns nil, or an error wrapping ErrStoreUnwritable that
// names the streams that cannot write and why, while they cannot.
func (h *Health) Writable() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.broken) == 0 {
		return nil
	}
	names := make([]string, 0, len(h.broken))
	for n := range h.broken {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "stream " + n + ": " + h.broken[n]
	}
	return fmt.Errorf("%w (%s)", ErrStoreUnwritable, strings.Join(parts, "; "))
}

// Recoveries is how many times the store was re-opened after a write
// error.
func (h *Health) Recoveries() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recoveries
}

// Run checks every HealthConfig.Every until ctx ends.
func (h *Health) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Every)
	defer t.Stop()
	for {
		h.Check()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check measures the free space and, while a stream cannot write, probes
// the disk and re-opens JetStream once the probe succeeds.
func (h *Health) Check() {
	h.measure()
	h.mu.Lock()
	broken := len(h.broken) > 0
	h.mu.Unlock()
	if !broken {
		return
	}
	if err := h.probe(); err != nil {
		h.cfg.Logger.Debug("store still cannot write", slog.String("error", err.Error()))
		return
	}
	if err := h.reopen(); err != nil {
		h.cfg.Logger.Error("could not re-open the store after its write error", slog.String("error", err.Error()))
		return
	}
	h.mu.Lock()
	h.broken = map[string]string{}
	h.recoveries++
	h.mu.Unlock()
	h.cfg.Logger.Info("job store writes again; its streams re-opened, intake resumed", slog.String("store_dir", h.cfg.StoreDir))
}

func (h *Health) measure() {
	var st syscall.Statfs_t
	if err := syscall.Statfs(h.cfg.StoreDir, &st); err != nil {
		return
	}
	free, total := st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
	if h.cfg.Free != nil {
		h.cfg.Free(free, total)
	}
	low := free < h.cfg.WarnBytes || float64(free) < h.cfg.WarnBelow*float64(total)
	h.mu.Lock()
	was := h.low
	h.low, h.free, h.total = low, free, total
	h.mu.Unlock()
	if low && !was {
		h.cfg.Logger.Warn("job store's disk is filling up; when it is full, hooks are refused",
			slog.String("store_dir", h.cfg.StoreDir), slog.Uint64("free_bytes", free), slog.Uint64("total_bytes", total))
	}
}

// probe writes and flushes ProbeBytes in the store directory.
func (h *Health) probe() error {
	p := filepath.Join(h.cfg.StoreDir, ".cdnpurge-write-probe")
	defer os.Remove(p)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, h.cfg.ProbeBytes))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// reopen calls HealthConfig.Reopen, at most once every 5 seconds, so
// that a disk that fails again does not make it flap.
func (h *Health) reopen() error {
	if h.cfg.Reopen == nil {
		return nil
	}
	h.mu.Lock()
	if time.Since(h.lastRecover) < 5*time.Second {
		h.mu.Unlock()
		return errors.New("re-opened less than 5s ago; waiting")
	}
	h.lastRecover = time.Now()
	h.mu.Unlock()
	return h.cfg.Reopen()
}
