package main

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// An --idempotency-key is bound to the paths it first queued: the same
// paths again queue nothing new, other paths are refused with the earlier
// job named.
func TestQueuedIdempotencyKeyIsBoundToPaths(t *testing.T) {
	cleanEnv(t)
	n := jobstest.RunNATS(t)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	subj, _ := jobs.NewSubjects("")
	if _, err := jobs.EnsureStream(t.Context(), js, jobs.StreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CDNPURGE_NATS_URL", n.URL)
	t.Setenv("CDNPURGE_CDN_EMULATOR", "true")
	t.Setenv("CDNPURGE_DOMAINS", "example.com")

	code, out, errOut := runCLI(t, "", "--log-level", "warn", "purge", "--idempotency-key", "release-7", "https://example.com/a.js")
	if code != 0 || !strings.Contains(out, "queued job") {
		t.Fatalf("first: exit %d\n%s\n%s", code, out, errOut)
	}
	first := strings.Fields(out)[2]
	code, out, errOut = runCLI(t, "", "--log-level", "warn", "purge", "--idempotency-key", "release-7", "https://example.com/a.js")
	if code != 0 || !strings.Contains(out, first) || !strings.Contains(out, "already queued") {
		t.Fatalf("same paths again: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "", "--log-level", "warn", "purge", "--idempotency-key", "release-7", "https://example.com/b.js")
	if code == 0 || !strings.Contains(errOut, "idempotency-key") || !strings.Contains(errOut, first) {
		t.Fatalf("other paths: exit %d\n%s\n%s", code, out, errOut)
	}
	st, _ := js.Stream(t.Context(), jobs.DefaultStreamName)
	if info, _ := st.Info(t.Context()); info.State.Msgs != 1 {
		t.Fatalf("stream holds %d jobs, want 1", info.State.Msgs)
	}
}
