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

// Before is what the store directory held before the server started: the
// streams with a directory, and the marks of the last run.
type Before struct {
	Dirs  []string
	Marks map[string]Mark
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
	tmp := filepath.Join(storeDir, MarksFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("record stream marks in %s: %w", storeDir, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(storeDir, MarksFile))
	}
	if err == nil {
		err = fsyncPath(storeDir)
	}
	if err != nil {
		return fmt.Errorf("record stream marks in %s: %w", storeDir, err)
	}
	return nil
}
