package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// debianNATS is the nats-server Debian packages (2.9 on bookworm).
const debianNATS = "/usr/sbin/nats-server"

// authServer is nats-server started with deploy/nats/authorization.conf,
// verbatim, and the passwords it reads from the environment.
type authServer struct {
	url       string
	passwords map[string]string
	// log is what the server wrote (its permission violations among it).
	log *serverLog
}

// sampleUsers are the users of the sample and the variables of
// nats-server's environment their passwords come from.
var sampleUsers = map[string]string{"cdnpurge": "NATSAUTH_SERVICE_PASSWORD", "cdnpurge-webhooks": "NATSAUTH_WEBHOOKS_PASSWORD",
	"producer": "NATSAUTH_PRODUCER_PASSWORD", "operator": "NATSAUTH_OPERATOR_PASSWORD", "viewer": "NATSAUTH_VIEWER_PASSWORD"}

// sampleDir is a directory holding the sample, as shipped, to include.
func sampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	auth, err := os.ReadFile(filepath.Join("nats", "authorization.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorization.conf"), auth, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runAuthNATS(t *testing.T) *authServer {
	t.Helper()
	if _, err := os.Stat(debianNATS); err != nil {
		t.Skipf("%s not installed", debianNATS)
	}
	dir := sampleDir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("listen: \"127.0.0.1:%d\"\njetstream {\n  store_dir: %q\n}\ninclude ./authorization.conf\n", port, filepath.Join(dir, "js"))
	confPath := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &authServer{url: fmt.Sprintf("nats://127.0.0.1:%d", port), passwords: map[string]string{}, log: &serverLog{}}
	env := os.Environ()
	for user, v := range sampleUsers {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		// nats-server parses the variable's value as a config value: one
		// that starts with a digit is read as a number and refused.
		s.passwords[user] = "pw" + hex.EncodeToString(b)
		env = append(env, v+"="+s.passwords[user])
	}
	cmd := exec.Command(debianNATS, "-c", confPath)
	cmd.Env = env
	out := s.log
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	// nats-server logs this line once its client listener is open.
	if !out.waitFor("Server is ready", 10*time.Second, exited) {
		select {
		case <-exited:
			t.Fatalf("nats-server refused the config:\n%s", out.String())
		default:
			t.Fatalf("nats-server did not start:\n%s", out.String())
		}
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("nats-server said it is ready but refused a connection: %v\n%s", err, out.String())
	}
	c.Close()
	return s
}

// client is a connection as one user, with the permission violations the
// server reported to it.
type client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	denied chan string
}

func (s *authServer) connect(t *testing.T, user string) *client {
	t.Helper()
	c := &client{denied: make(chan string, 64)}
	nc, err := nats.Connect(s.url, nats.UserInfo(user, s.passwords[user]), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			c.denied <- err.Error()
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refused publishes on subject and waits for the server's permission
// violation naming it.
func (c *client) refused(t *testing.T, subject, msgID string) {
	t.Helper()
	m := &nats.Msg{Subject: subject, Data: []byte(`{"schedule":"nightly","tick":"2026-11-25T15:00:00Z"}`), Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if err := c.nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-c.denied:
		if !strings.Contains(got, subject) {
			t.Errorf("publish on %s: violation %q names another subject", subject, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("publish on %s was not refused by the server", subject)
	}
}

func msgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// The sample authorization lets each role do its work, and keeps outside
// producers (and the webhooks) off the tick and operation subjects, so no
// one but the scheduler can take a tick's message ID in the tick stream.
func TestSampleNATSAuthorization(t *testing.T) {
	t.Parallel()
	srv := runAuthNATS(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	subj, _ := jobs.NewSubjects("")
	cfg := queue.StreamConfig{Subjects: subj}
	tick := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	tickID := operations.DedupeKey("nightly", tick)

	// The service role sets up everything serve's worker and scheduler do.
	svc := srv.connect(t, "cdnpurge")
	if _, err := queue.EnsureStream(ctx, svc.js, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.EnsureSchedStream(ctx, svc.js, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.EnsureStatusStream(ctx, svc.js, queue.StatusStreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	state, err := operations.OpenKVStateStore(ctx, svc.js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := state.Update(ctx, "nightly", func(st *operations.State) bool { st.LastTick = tick; return true }); err != nil {
		t.Fatalf("write schedule state: %v", err)
	}
	if _, err := worker.OpenKVStore(ctx, svc.js, "", 1); err != nil {
		t.Fatal(err)
	}

	// The webhook role keeps its streams up to date and publishes jobs,
	// but cannot publish ticks or operations.
	hooks := srv.connect(t, "cdnpurge-webhooks")
	if _, err := queue.EnsureStream(ctx, hooks.js, cfg); err != nil {
		t.Fatalf("webhooks: ensure work stream: %v", err)
	}
	if _, err := queue.EnsureStatusStream(ctx, hooks.js, queue.StatusStreamConfig{Subjects: subj}); err != nil {
		t.Fatalf("webhooks: ensure status stream: %v", err)
	}
	hookPub, err := queue.NewPublisher(hooks.nc, queue.PublisherConfig{Subjects: subj})
	if err != nil {
		t.Fatal(err)
	}
	j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/a.js"}}}
	j.Prepare("generic", time.Now())
	if _, err := hookPub.Publish(ctx, j, ""); err != nil {
		t.Fatalf("webhooks: publish a job: %v (denied: %s)", err, drain(hooks.denied))
	}
	hooks.refused(t, subj.Sched("nightly"), tickID)
	hooks.refused(t, subj.Op("StopCdnDomain"), "")
	// The OSS hook claims each event in its bucket.
	seen, err := webhooks.OpenOSSSeen(ctx, hooks.js, 1, 0)
	if err != nil {
		t.Fatalf("webhooks: open the OSS event bucket: %v (denied: %s)", err, drain(hooks.denied))
	}
	if c, err := seen.Claim(ctx, "oss-event"); err != nil || !c.Fresh {
		t.Fatalf("webhooks: claim an OSS event: %+v %v (denied: %s)", c, err, drain(hooks.denied))
	} else if err := seen.Done(ctx, "oss-event", c.Rev, []string{"job"}); err != nil {
		t.Fatalf("webhooks: mark an OSS event: %v (denied: %s)", err, drain(hooks.denied))
	}
	if c, err := seen.Claim(ctx, "oss-event"); err != nil || len(c.Jobs) != 1 {
		t.Fatalf("webhooks: look up an OSS event: %+v %v (denied: %s)", c, err, drain(hooks.denied))
	}

	// An outside producer: purge subjects work (even with a tick's ID as
	// its Nats-Msg-Id: that is the work stream's dedupe, not the ticks'),
	// everything else is refused.
	prod := srv.connect(t, "producer")
	m := &nats.Msg{Subject: subj.Refresh(), Data: []byte(`{"refresh":{"paths":["https://static.example.com/b.js"]}}`), Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, tickID)
	if _, err := prod.js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("producer: publish on %s: %v", subj.Refresh(), err)
	}
	if _, err := prod.js.Publish(ctx, subj.Push(), []byte(`{"push":{"paths":["https://static.example.com/c.js"]}}`)); err != nil {
		t.Fatalf("producer: publish on %s: %v", subj.Push(), err)
	}
	// The publisher library (cdnpurge purge) binds its key in the
	// idempotency bucket, which the producer may use but not create.
	prodPub, err := queue.NewPublisher(prod.nc, queue.PublisherConfig{Subjects: subj})
	if err != nil {
		t.Fatal(err)
	}
	pj := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/d.js"}}}
	pj.Prepare("cli", time.Now())
	if _, err := prodPub.Publish(ctx, pj, ""); err != nil {
		t.Fatalf("producer: publish through the library: %v (denied: %s)", err, drain(prod.denied))
	}
	for _, s := range []string{subj.Sched("nightly"), subj.Op("ModifyCdnDomain"), subj.Op("nightly"), subj.Invalid(),
		"$JS.API.STREAM.UPDATE." + queue.SchedStreamName(""), "$JS.API.STREAM.PURGE." + queue.DefaultStreamName,
		"$KV." + operations.DefaultStateBucket + ".nightly"} {
		prod.refused(t, s, tickID)
	}

	// Nothing reached the tick stream, and the scheduler's tick is not a
	// duplicate of anything.
	if n := msgs(t, svc.js, queue.SchedStreamName("")); n != 0 {
		t.Fatalf("tick stream holds %d messages before the scheduler published", n)
	}
	pub, err := queue.NewPublisher(svc.nc, queue.PublisherConfig{Subjects: subj})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := pub.PublishTick(ctx, "nightly", tick, tickID)
	if err != nil {
		t.Fatalf("scheduler: publish tick: %v", err)
	}
	if ack.Duplicate {
		t.Fatal("the scheduler's tick was dropped as a duplicate")
	}
	if n := msgs(t, svc.js, queue.DefaultStreamName); n != 4 {
		t.Fatalf("work stream holds %d messages, want 4 (one webhook job, three producer jobs)", n)
	}
	if st, _, err := state.Load(ctx, "nightly"); err != nil || !st.LastTick.Equal(tick) {
		t.Fatalf("schedule state = %+v, %v; want the service's write only", st, err)
	}

	// The worker role consumes and acks the tick.
	cons, err := svc.js.CreateOrUpdateConsumer(ctx, queue.SchedStreamName(""), jetstream.ConsumerConfig{Durable: "cdnpurge-worker",
		AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("worker: consumer on the tick stream: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("worker: ack the tick: %v", err)
		}
	}
	if got != 1 {
		t.Fatalf("worker fetched %d ticks, want 1", got)
	}
}

// drain returns the permission violations reported so far.
func drain(c chan string) string {
	var out []string
	for {
		select {
		case s := <-c:
			out = append(out, s)
		default:
			return strings.Join(out, "; ")
		}
	}
}
