package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/worker"
)

// cliNATS starts a NATS with the work stream and returns an environment
// that points the commands of the test at it (with the emulator's account
// and example.com).
func cliNATS(t *testing.T) (*nats.Conn, jetstream.JetStream, jobs.Subjects, map[string]string) {
	t.Helper()
	n := jobstest.RunNATS(t)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	subj, _ := jobs.NewSubjects("")
	if _, err := queue.EnsureStream(t.Context(), js, queue.StreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CDNPURGE_NATS_URL": n.URL, "CDNPURGE_CDN_EMULATOR": "true", "CDNPURGE_DOMAINS": "example.com"}
	return nc, js, subj, env
}

// pause, resume and jobs cancel are status events naming the action, the
// job or pause, the reason and who (user@host).
func TestOperatorActionsAreStatusEvents(t *testing.T) {
	t.Parallel()
	nc, js, subj, env := cliNATS(t)
	if _, err := queue.EnsureStatusStream(t.Context(), js, queue.StatusStreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	events := jobstest.WatchStatus(t, nc, subj)

	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLIWith(t, env, "", append([]string{"--log-level", "warn"}, args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	run("pause", "--reason", "incident 9")
	run("resume", "--reason", "incident 9 over")
	id := strings.Fields(run("purge", "https://example.com/a.js"))[2]
	run("jobs", "cancel", "--reason", "wrong file", id)

	jobstest.Await(t, "the three action events", time.Minute, func() bool {
		return len(events.All("")) >= 2 && events.Has(id, worker.StateCancelled)
	}, events.Changed)
	want := []struct{ job, action, reason string }{
		{"", worker.ActionPause, "incident 9"}, {"", worker.ActionResume, "incident 9 over"}, {id, worker.ActionCancel, "wrong file"},
	}
	all := append(events.All(""), events.All(id)...)
	for _, w := range want {
		found := false
		for _, ev := range all {
			if ev.Action == w.action && ev.JobID == w.job && strings.Contains(ev.Reason, w.reason) &&
				strings.HasPrefix(ev.By, "operator:") && strings.Contains(ev.By, "@") {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s event for %q with reason %q and user@host among %+v", w.action, w.job, w.reason, all)
		}
	}
}
