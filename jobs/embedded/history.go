package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MarksFile is the file in the store directory where serve records how
// far each stream had got, so that the next start can tell a stream
// restored whole from one that lost its tail or vanished.
const MarksFile = "cdnpurge-streams.json"

// Mark is how far a stream had got when it was last recorded.
type Mark struct {
	LastSeq uint64    `json:"last_seq"`
	Msgs    uint64    `json:"msgs"`
	At      time.Time `json:"at"`
}

// RunningFile is the file in the store directory that says a serve is
// running on it, with its sync setting (MarkRunning); a clean stop removes
// it (MarkStopped). Found at a start, it says the last run ended without
// a clean stop.
const RunningFile = "cdnpurge-running.json"

// ServeRun is what RunningFile records of the serve that runs on the store.
type ServeRun struct {
	Started      time.Time `json:"started"`
	SyncInterval string    `json:"sync_interval"`
}

// Before is what the store directory held before the server started: the
// streams with a directory, the marks of the last run, and that run's
// record when it did not stop cleanly (Unclean).
type Before struct {
	Dirs    []string
	Marks   map[string]Mark
	Unclean *ServeRun
}

// MarkRunning records in storeDir, flushed to disk, that a serve with the
// sync setting syncInterval runs on it.
func MarkRunning(storeDir, syncInterval string) error {
	data, err := json.Marshal(ServeRun{Started: time.Now(), SyncInterval: syncInterval})
	if err != nil {
		return err
	}
	if err := writeFlushed(storeDir, RunningFile, data); err != nil {
		return fmt.Errorf("record the running serve in %s: %w", storeDir, err)
	}
	return nil
}

// MarkStopped removes RunningFile after a clean stop, flushed to disk.
func MarkStopped(storeDir string) error {
	if err := os.Remove(filepath.Join(storeDir, RunningFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("record the clean stop in %s: %w", storeDir, err)
	}
	if err := fsyncPath(storeDir); err != nil {
		return fmt.Errorf("record the clean stop in %s: %w", storeDir, err)
	}
	return nil
}

// Survey reads the store directory before Run: which streams it holds and
// what the last run recorded. A store never used gives an empty Before.
func Survey(storeDir string) (Before, error) {
	b := Before{Marks: map[string]Mark{}}
	ents, err := os.ReadDir(filepath.Join(storeDir, "jetstream", "$G", "streams"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return b, fmt.Errorf("survey store %s: %w", storeDir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			b.Dirs = append(b.Dirs, e.Name())
		}
	}
	if data, err := os.ReadFile(filepath.Join(storeDir, RunningFile)); err == nil {
		var r ServeRun
		if json.Unmarshal(data, &r) != nil {
			r = ServeRun{} // half a file: the run did not stop cleanly all the same
		}
		b.Unclean = &r
	}
	data, err := os.ReadFile(filepath.Join(storeDir, MarksFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return b, fmt.Errorf("read %s: %w", MarksFile, err)
	case len(data) > 0:
		if err := json.Unmarshal(data, &b.Marks); err != nil {
			// Half a file after a power cut: the directories still tell
			// which streams existed.
			b.Marks = map[string]Mark{}
		}
	}
	return b, nil
}

// Loss is a stream the restart did not bring back whole.
type Loss struct {
	Stream string
	// What says what is known to be lost, for the log and /readyz.
	What string
}

// Losses compares what the store held before the start with what the
// server restored: a stream that had a directory or a mark and is missing
// now (its files were empty or corrupt: nats-server logs "checksums do
// not match", "Stream state too short" or "corrupt state file" and skips
// it), or one whose last sequence is behind its mark (its tail was lost).
// Call it before anything re-creates the streams.
func (b Before) Losses(ctx context.Context, js jetstream.JetStream) ([]Loss, error) {
	names := slices.Clone(b.Dirs)
	for n := range b.Marks {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []Loss
	for _, n := range names {
		m, marked := b.Marks[n]
		known := ""
		if marked {
			known = fmt.Sprintf(" (recorded at %s: %d messages, last sequence %d)", m.At.UTC().Format(time.RFC3339), m.Msgs, m.LastSeq)
		}
		s, err := js.Stream(ctx, n)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			out = append(out, Loss{Stream: n, What: "the store held this stream but the server could not restore it (its files are missing, empty or corrupt); everything it held is lost" + known})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("look up stream %s after the restart: %w", n, err)
		}
		if !marked {
			continue
		}
		st := s.CachedInfo().State
		if st.LastSeq < m.LastSeq {
			out = append(out, Loss{Stream: n, What: fmt.Sprintf("restored up to sequence %d of %d: up to %d messages stored before the restart are lost%s", st.LastSeq, m.LastSeq, m.LastSeq-st.LastSeq, known)})
		}
	}
	// A run that did not stop cleanly with a lazy flush may have lost
	// what its streams stored since their last mark, and a stream whose
	// files survived while its messages did not looks like one never
	// used: say so, since nothing else can.
	if u := b.Unclean; u != nil && len(out) == 0 && len(names) > 0 && LazyRisk(u.SyncInterval) != "" {
		since := u.Started
		for _, m := range b.Marks {
			if m.At.After(since) {
				since = m.At
			}
		}
		out = append(out, Loss{Stream: "every stream", What: fmt.Sprintf("the last serve (started %s, nats.embedded.sync_interval %s) did not stop cleanly: what its streams stored after %s may be lost, how much is not known",
			u.Started.UTC().Format(time.RFC3339), u.SyncInterval, since.UTC().Format(time.RFC3339))})
	}
	return out, nil
}

// RecordMarks writes how far each stream of the store has got into
// MarksFile, flushed to disk, replacing the last record.
func RecordMarks(ctx context.Context, js jetstream.JetStream, storeDir string) error {
	marks := map[string]Mark{}
	names := js.StreamNames(ctx)
	for n := range names.Name() {
		s, err := js.Stream(ctx, n)
		if err != nil {
			continue // deleted meanwhile
		}
		st := s.CachedInfo().State
		marks[n] = Mark{LastSeq: st.LastSeq, Msgs: st.Msgs, At: time.Now()}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list streams: %w", err)
	}
	data, err := json.Marshal(marks)
	if err != nil {
		return err
	}
	if err := writeFlushed(storeDir, MarksFile, data); err != nil {
		return fmt.Errorf("record stream marks in %s: %w", storeDir, err)
	}
	return nil
}

// writeFlushed replaces dir/name with data, flushed to disk: a power cut
// leaves the old file or the new one.
func writeFlushed(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = fsyncPath(dir)
	}
	return err
}
