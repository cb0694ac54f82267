package queue_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// Each refusal names the least privileged role that has the permission:
// a lower role when one has it, the service only for what only it may do,
// none for what no role may.
func TestRoleAllowingNamesTheLeastRole(t *testing.T) {
	t.Parallel()
	roles := queue.Roles(queue.RoleNames{})
	for _, c := range []struct {
		subscribe bool
		subject   string
		want      string
	}{
		{false, "cdn.purge.refresh", "producer"},
		{true, "cdn.status.>", "producer"},
		{false, "$JS.API.STREAM.INFO.KV_CDNPURGE_CONTROL", "viewer"},
		{false, "$JS.API.CONSUMER.DELETE.KV_CDNPURGE_ARCHIVE.0Xe9ao7p", "viewer"},
		{false, "$KV.CDNPURGE_CONTROL.pause", "operator"},
		{false, "$KV.CDNPURGE_CONTROL.cancel.06h51ihiqdaqedre1k3pp7jrmc", "operator"},
		{false, "cdn.status.06h51ihiqdaqedre1k3pp7jrmc", "operator"},
		{false, "$JS.API.STREAM.CREATE.KV_cdnpurge-idem", "webhooks"},
		{false, "cdn.status.invalid", "webhooks"},
		{false, "$KV.CDNPURGE_CONTROL.auto.replica-1", "service"},
		{false, "$JS.API.CONSUMER.MSG.NEXT.CDNPURGE_STATUS.cdnpurge-archive", "service"},
		{false, "$JS.API.STREAM.DELETE.CDNPURGE", "service"},
		{false, "cdn.sched.nightly", "service"},
		{false, "$JS.ACK.CDNPURGE_STATUS.cdnpurge-archive.1.2.3.4.0", "service"},
		{false, "cdn.ops.StopCdnDomain", ""},
	} {
		r, ok := queue.RoleAllowing(roles, c.subscribe, c.subject)
		if r.Name != c.want || ok != (c.want != "") {
			t.Errorf("%s (subscribe %v): role %q (%v), want %q", c.subject, c.subscribe, r.Name, ok, c.want)
		}
	}
}

// A custom prefix and stream name are granted under their own names.
func TestRolesFollowConfiguredNames(t *testing.T) {
	t.Parallel()
	subj, err := jobs.NewSubjects("acme.cdn")
	if err != nil {
		t.Fatal(err)
	}
	roles := queue.Roles(queue.RoleNames{Subjects: subj, Stream: "PURGE"})
	if r, _ := queue.RoleAllowing(roles, false, "acme.cdn.purge.push"); r.Name != "producer" {
		t.Errorf("acme.cdn.purge.push: role %q, want producer", r.Name)
	}
	if r, _ := queue.RoleAllowing(roles, false, "$JS.ACK.PURGE_SCHED.x"); r.Name != "service" {
		t.Errorf("tick acks: role %q, want service", r.Name)
	}
	if _, ok := queue.RoleAllowing(roles, false, "cdn.purge.push"); ok {
		t.Error("the default prefix is granted under a custom one")
	}
}

// A refused publish and a refused subscription, as the server reports
// them, become errors naming the user, the subject and the role.
func TestRefusalsNameUserSubjectAndRole(t *testing.T) {
	t.Parallel()
	url := jobstest.RunAuthNATS(t, &server.User{Username: "ci", Password: "secret-pw", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"cdn.purge.refresh"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}})
	got := make(chan *queue.PermissionError, 4)
	r := queue.NewRefusals("ci", queue.Roles(queue.RoleNames{}), nil, func(pe *queue.PermissionError) { got <- pe })
	nc, err := nats.Connect(url, nats.UserInfo("ci", "secret-pw"), r.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("cdn.purge.refresh", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("$KV.CDNPURGE_CONTROL.pause", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.SubscribeSync("cdn.status.>"); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for range 2 {
		select {
		case pe := <-got:
			if !errors.Is(pe, nats.ErrPermissionViolation) {
				t.Errorf("%v does not wrap nats.ErrPermissionViolation", pe)
			}
			msgs = append(msgs, pe.Error())
		case <-time.After(10 * time.Second):
			t.Fatalf("refusals seen: %q", msgs)
		}
	}
	want := []string{
		"NATS user ci may not publish to $KV.CDNPURGE_CONTROL.pause (role operator in deploy/nats/authorization.conf allows it)",
		"NATS user ci may not subscribe to cdn.status.> (role producer in deploy/nats/authorization.conf allows it)",
	}
	if fmt.Sprint(msgs) != fmt.Sprint(want) {
		t.Errorf("refusals:\n%q\nwant\n%q", msgs, want)
	}
	if err := r.Err(); err == nil || err.Error() != want[0] {
		t.Errorf("Err() = %v, want the first refusal", err)
	}
}

// A missing stream a user may not create is explained: serve creates it.
func TestPermissionErrorExplainsMissingStream(t *testing.T) {
	t.Parallel()
	pe, ok := queue.ParsePermissionError(fmt.Errorf("%w: %s", nats.ErrPermissionViolation,
		`Permissions Violation for Publish to "$JS.API.STREAM.CREATE.KV_cdnpurge-idem"`), "", queue.Roles(queue.RoleNames{}))
	if !ok {
		t.Fatal("not parsed")
	}
	msg := pe.Error()
	for _, want := range []string{"this NATS user may not publish to $JS.API.STREAM.CREATE.KV_cdnpurge-idem", "role webhooks",
		"cdnpurge-idem does not exist yet: cdnpurge serve creates it at start"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if _, ok := queue.ParsePermissionError(errors.New("nats: timeout"), "u", nil); ok {
		t.Error("a timeout parsed as a refusal")
	}
}
