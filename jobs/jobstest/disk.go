package jobstest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// MountTmpfs mounts a tmpfs of size (such as "24m") under a temporary
// directory and unmounts it when the test ends: a small disk to fill. A
// test without the right to mount (not root) is skipped, except under
// CI=true, where it must run.
func MountTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("mount a %s tmpfs for a full-disk test (needs root): %v", size, err)
		}
		tb.Skipf("full-disk test needs to mount a tmpfs (root): %v", err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// ResizeTmpfs changes the size of a tmpfs MountTmpfs mounted. A server
// that sizes its storage limits from the free space at start (nats-server
// takes 75% of it) can start on a large one that then shrinks, without
// the test writing gigabytes.
func ResizeTmpfs(tb testing.TB, dir, size string) {
	tb.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+size); err != nil {
		tb.Fatalf("resize the tmpfs at %s to %s: %v", dir, size, err)
	}
}

// FillDisk writes a file into dir until its filesystem is full, and
// returns the file's path: removing it gives the space back.
func FillDisk(tb testing.TB, dir string) string {
	tb.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatal(err)
			}
			break
		}
	}
	for { // the last bytes too, so that even a small write fails
		if _, err := f.Write(chunk[:512]); err != nil {
			return p
		}
	}
}

// StoredJobIDs returns the IDs of the jobs in stream (read by sequence, as
// a work-queue stream takes no ordered consumer); none when the stream is
// missing.
func StoredJobIDs(tb testing.TB, js jetstream.JetStream, stream string) map[string]bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string]bool{}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return out
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		if j, err := jobs.Decode(m.Data); err == nil && j.ID != "" {
			out[j.ID] = true
		} else if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
			out[id] = true
		}
	}
	return out
}
