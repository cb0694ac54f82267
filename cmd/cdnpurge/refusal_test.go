package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/worker"
)

// runRolesNATS runs an embedded JetStream server with an all-powerful
// user "admin" and, for each role of queue.Roles, a user of its name
// (password "<name>-pw"), and returns its URL.
func runRolesNATS(t *testing.T) string {
	t.Helper()
	users := []*server.User{{Username: "admin", Password: "admin-pw"}}
	for _, r := range queue.Roles(queue.RoleNames{}) {
		users = append(users, &server.User{Username: r.Name, Password: r.Name + "-pw",
			Permissions: &server.Permissions{Publish: &server.SubjectPermission{Allow: r.Publish, Deny: r.DenyPublish},
				Subscribe: &server.SubjectPermission{Allow: r.Subscribe}}})
	}
	return jobstest.RunAuthNATS(t, users...)
}

// A producer whose first keyed purge --wait finds no idempotency bucket
// (serve never ran) is told at once which permission it lacks, which role
// has it and who creates the bucket; it is never "gave up waiting". A
// purge without a key claims nothing, so it needs no bucket. Once the
// bucket exists keyed purges queue; pause stays refused, naming the
// operator role.
func TestRefusedPurgeNamesPermission(t *testing.T) {
	t.Parallel()
	url := runRolesNATS(t)
	nc, err := nats.Connect(url, nats.UserInfo("admin", "admin-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	subj, _ := jobs.NewSubjects("")
	if _, err := queue.EnsureStream(t.Context(), js, queue.StreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("producer-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CDNPURGE_NATS_URL": url, "CDNPURGE_NATS_USER": "producer", "CDNPURGE_NATS_PASSWORD_FILE": pw,
		"CDNPURGE_DOMAINS": "example.com"}
	want := "NATS user producer may not publish to $JS.API.STREAM.CREATE.KV_cdnpurge-idem (role webhooks in deploy/nats/authorization.conf allows it); " +
		"cdnpurge-idem does not exist yet: cdnpurge serve creates it at start"

	code, out, errOut := runCLIWith(t, env, "", "purge", "--wait", "--timeout", "20s", "--idempotency-key", "deploy-1", "https://example.com/a.js")
	if code != exitFailure || !strings.Contains(errOut, want) || strings.Contains(out+errOut, "gave up waiting") {
		t.Fatalf("purge --wait: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = runCLIWith(t, env, "", "--output", "json", "purge", "--wait", "--timeout", "20s", "--idempotency-key", "deploy-1", "https://example.com/a.js")
	var rep errorBody
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFailure || rep.Code != codeRefused || !strings.Contains(rep.Error, want) {
		t.Fatalf("purge --wait --output json: exit %d, %+v (%v)\n%s", code, rep, err, out)
	}
	if code, out, errOut = runCLIWith(t, env, "", "purge", "https://example.com/b.js"); code != 0 || !strings.Contains(out, "queued job") {
		t.Fatalf("purge without a key, no bucket: exit %d\n%s\n%s", code, out, errOut)
	}

	pub, err := queue.NewPublisher(nc, queue.PublisherConfig{Subjects: subj})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.OpenIdempotencyBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLIWith(t, env, "", "purge", "--idempotency-key", "deploy-1", "https://example.com/a.js")
	if code != 0 || !strings.Contains(out, "queued job") {
		t.Fatalf("keyed purge once the bucket exists: exit %d\n%s\n%s", code, out, errOut)
	}
	id := strings.Fields(out)[2]
	code, _, errOut = runCLIWith(t, env, "", "pause")
	if code != exitFailure || !strings.Contains(errOut, "NATS user producer may not publish to $JS.API.STREAM.INFO.KV_CDNPURGE_CONTROL (role viewer") {
		t.Fatalf("pause as producer: exit %d\n%s", code, errOut)
	}

	// A viewer may look the job up but not cancel it: the result (one
	// JSON document) and the error name the permission.
	if _, err := queue.EnsureStatusStream(t.Context(), js, queue.StatusStreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.OpenControl(t.Context(), js, "", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.OpenArchive(t.Context(), js, "", 0, 1); err != nil {
		t.Fatal(err)
	}
	env["CDNPURGE_NATS_USER"] = "viewer"
	if err := os.WriteFile(pw, []byte("viewer-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLIWith(t, env, "", "--output", "json", "jobs", "cancel", id)
	var res struct {
		Results []jobResult `json:"results"`
	}
	denied := "NATS user viewer may not publish to $KV.CDNPURGE_CONTROL.cancel." + id + " (role operator in deploy/nats/authorization.conf allows it)"
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitFailure || len(res.Results) != 1 ||
		res.Results[0].Error != denied || !strings.Contains(errOut, denied) {
		t.Fatalf("jobs cancel as viewer: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out, errOut)
	}
}

// A purge whose publish ran out of --timeout queued nothing: it fails as
// a queue error, not as a wait that ended early.
func TestPurgeThatQueuedNothingDoesNotReportWaiting(t *testing.T) {
	t.Parallel()
	n := jobstest.RunNATS(t)
	env := map[string]string{"CDNPURGE_NATS_URL": n.URL, "CDNPURGE_DOMAINS": "example.com"}
	code, out, errOut := runCLIWith(t, env, "", "purge", "--wait", "--timeout", "1ns", "https://example.com/a.js")
	if code != exitFailure || strings.Contains(out+errOut, "gave up waiting") || !strings.Contains(errOut, "queue job") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
