package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/worker"
)

// serverLog is nats-server's output, safe to write and read at once.
type serverLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced by every write
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return l.buf.Write(p)
}

// waitFor waits until the log holds want, looking again on every write;
// it reports false when d passes or stop is closed first.
func (l *serverLog) waitFor(want string, d time.Duration, stop <-chan struct{}) bool {
	return l.waitUntil(func(s string) bool { return strings.Contains(s, want) }, d, stop)
}

// waitUntil is waitFor with a condition on the whole log.
func (l *serverLog) waitUntil(cond func(string) bool, d time.Duration, stop <-chan struct{}) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		found := cond(l.buf.String())
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-changed:
		case <-stop:
			return cond(l.String())
		case <-timeout.C:
			return false
		}
	}
}

// pollUntil asks cond every interval until it holds, for state that
// signals nothing (a child process's readiness over HTTP). It fails the
// test when d passes or exited is closed first.
func pollUntil(t *testing.T, what string, d, interval time.Duration, exited <-chan struct{}, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("%s: the process ended", what)
		case <-timeout.C:
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// violationLine is how nats-server 2.9 logs a refused publish or
// subscription; violationLine215 how 2.15 does (the user is in the
// client's label).
var (
	violationLine    = regexp.MustCompile(`(Publish|Subscription) Violation - User "([^"]+)", Subject "([^"]+)"`)
	violationLine215 = regexp.MustCompile(`"[^"]*/user:([^"]+)" - (Publish|Subscription) Violation - Subject "([^"]+)"`)
)

// violation is one permission violation in the server's log.
type violation struct{ kind, user, subject string }

// violations returns the violations logged after the first skip bytes.
func (l *serverLog) violations(skip int) []violation { return violationsIn(l.String(), skip) }

// violationsIn returns the violations in log s after its first skip bytes.
func violationsIn(s string, skip int) []violation {
	var out []violation
	s = s[min(skip, len(s)):]
	for _, m := range violationLine.FindAllStringSubmatch(s, -1) {
		out = append(out, violation{m[1], m[2], m[3]})
	}
	for _, m := range violationLine215.FindAllStringSubmatch(s, -1) {
		out = append(out, violation{m[2], m[1], m[3]})
	}
	return out
}

// The roles, by the user the sample gives each.
const (
	roleProducer = "producer"
	roleViewer   = "viewer"
	roleOperator = "operator"
	roleWebhooks = "cdnpurge-webhooks"
	roleService  = "cdnpurge"
)

var allRoles = []string{roleProducer, roleViewer, roleOperator, roleWebhooks, roleService}

// cdnpurgeBinaries builds cmd/cdnpurge once per test run and mode: with
// the race detector (race true, when the tests have it, so that the build
// cache is shared) or without. Each binary goes to a directory of its own
// under os.TempDir, named after this checkout and kept between runs: go
// build -o finds a binary whose build ID matches the sources and flags up
// to date and does not link it again.
var cdnpurgeBinaries = map[bool]func() (string, error){
	true:  sync.OnceValues(func() (string, error) { return buildCdnpurge(true) }),
	false: sync.OnceValues(func() (string, error) { return buildCdnpurge(false) }),
}

func buildCdnpurge(race bool) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	mode := "norace"
	args := []string{"build"}
	if race {
		mode = "race"
		args = append(args, "-race")
	}
	dir := filepath.Join(os.TempDir(), "cdnpurge-deploy-bin-"+hex.EncodeToString(sum[:6])+"-"+mode)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "cdnpurge")
	build := exec.Command("go", append(args, "-o", bin, "./cmd/cdnpurge")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/cdnpurge: %w\n%s", err, out)
	}
	return bin, nil
}

// matrix is the running set-up: nats-server with the sample, the
// emulator, cdnpurge serve as the service and as a webhooks-only replica,
// and what every command run as a user needs.
type matrix struct {
	t   *testing.T
	srv *authServer
	emu *cdnemu.Server
	// bin runs the commands; serveBin the serves (serve).
	bin, serveBin string
	dir           string
	config        string
	// pwFiles are the users' password files (nats.password_file).
	pwFiles map[string]string
	// barrier is a connection whose refused publishes mark the log.
	barrier *nats.Conn
	marks   int
}

// freeAddrs returns n distinct free loopback addresses: each listener stays
// open until all are chosen, so two of them cannot be the same port.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// env is the environment of cdnpurge run as user.
func (m *matrix) env(user string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + m.dir,
		// A race-built binary (the serves against the embedded server)
		// sleeps a second at exit unless told not to.
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
		"CDNPURGE_CONFIG=" + m.config,
		"CDNPURGE_NATS_URL=" + m.srv.url,
		"CDNPURGE_NATS_USER=" + user,
		"CDNPURGE_NATS_PASSWORD_FILE=" + m.pwFiles[user],
		"CDNPURGE_CDN_ENDPOINT=" + m.emu.URL, "CDNPURGE_CDN_DCDN_ENDPOINT=" + m.emu.URL, "CDNPURGE_CDN_STS_ENDPOINT=" + m.emu.URL,
		"CDNPURGE_CDN_ACCOUNT_ID=" + cdnemu.DefaultAccountID,
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cdnemu.DefaultAccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + cdnemu.DefaultAccessKeySecret,
		// A serve the matrix expects refused must not take a shared port
		// if it got that far.
	}
	addrs := freeAddrs(m.t, 2)
	env = append(env, "CDNPURGE_WEBHOOKS_LISTEN="+addrs[0], "CDNPURGE_ADMIN_LISTEN="+addrs[1])
	return append(env, extra...)
}

// result is one command's outcome.
type result struct {
	code           int
	stdout, stderr string
	// denied are the violations the server logged for the user meanwhile.
	denied []violation
	// from is the length of the server's log when the command started;
	// user the NATS user it ran as.
	from int
	user string
}

// run runs cdnpurge args as user and returns what it did, with the
// permission violations the server logged for user while it ran.
func (m *matrix) run(user string, args ...string) result {
	m.t.Helper()
	from := len(m.srv.log.String())
	ctx, cancel := context.WithTimeout(m.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.bin, args...)
	cmd.Env, cmd.Dir = m.env(user), m.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		m.t.Fatalf("run %v as %s: %v", args, user, err)
	}
	m.mark()
	r.denied = m.deniedSince(from, user)
	r.from, r.user = from, user
	return r
}

// deniedSince returns the violations of user the server logged after the
// first from bytes of its log, the barrier's marks left out.
func (m *matrix) deniedSince(from int, user string) []violation {
	return deniedIn(m.srv.log.String(), from, user)
}

// deniedIn is deniedSince on the log s.
func deniedIn(s string, from int, user string) []violation {
	var out []violation
	for _, v := range violationsIn(s, from) {
		if v.user == user && !strings.HasPrefix(v.subject, markPrefix) {
			out = append(out, v)
		}
	}
	return out
}

// awaitDenied waits up to d for a violation of r's user when none was
// logged by the barrier: nats-server sends a client its refusal before
// it logs the violation, so the command can exit, and the barrier's own
// violation be logged from another connection, before the command's.
func (m *matrix) awaitDenied(r *result, d time.Duration) {
	if len(r.denied) > 0 {
		return
	}
	// The condition runs under the log's lock: it reads the log it is given.
	m.srv.log.waitUntil(func(s string) bool { return len(deniedIn(s, r.from, r.user)) > 0 }, d, nil)
	r.denied = m.deniedSince(r.from, r.user)
}

// markPrefix starts the subjects of the barrier's marks.
const markPrefix = "cdnpurge.test.mark."

// mark publishes where the barrier user may not and waits for the
// server's log line of it: whatever the server logged for a command that
// ended before is in the log by then.
func (m *matrix) mark() {
	m.t.Helper()
	m.marks++
	subject := fmt.Sprintf("%s%d", markPrefix, m.marks)
	if err := m.barrier.Publish(subject, nil); err != nil {
		m.t.Fatal(err)
	}
	if !m.srv.log.waitFor(`Subject "`+subject+`"`, 30*time.Second, nil) {
		m.t.Fatalf("nats-server never logged the refused publish on %s", subject)
	}
}

// serve starts cdnpurge serve as user with args; it is stopped at cleanup.
// It returns the webhook listener's address once /readyz answers 200, and
// its log.
func (m *matrix) serve(user string, extra []string, args ...string) (string, *serverLog) {
	m.t.Helper()
	addrs := freeAddrs(m.t, 2)
	addr := addrs[0]
	dir := m.t.TempDir()
	cmd := exec.Command(m.serveBin, append([]string{"serve"}, args...)...)
	cmd.Env = m.env(user, append([]string{"CDNPURGE_WEBHOOKS_LISTEN=" + addr, "CDNPURGE_ADMIN_LISTEN=" + addrs[1],
		"CDNPURGE_WORKER_LINGER=50ms", "CDNPURGE_WORKER_TRACKER_FIRST_POLL=100ms"}, extra...)...)
	cmd.Dir = dir
	log := &serverLog{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	m.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-exited:
		m.t.Fatalf("serve %v as %s ended:\n%s", args, user, log.String())
	default:
	}
	pollUntil(m.t, fmt.Sprintf("serve %v as %s ready", args, user), 60*time.Second, 50*time.Millisecond, exited, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr, log
}

// embeddedLog writes the embedded server's log lines into a serverLog.
type embeddedLog struct{ l *serverLog }

func (e embeddedLog) logf(level, format string, v ...any) {
	fmt.Fprintf(e.l, "["+level+"] "+format+"\n", v...)
}
func (e embeddedLog) Noticef(format string, v ...any) { e.logf("INF", format, v...) }
func (e embeddedLog) Warnf(format string, v ...any)   { e.logf("WRN", format, v...) }
func (e embeddedLog) Fatalf(format string, v ...any)  { e.logf("FTL", format, v...) }
func (e embeddedLog) Errorf(format string, v ...any)  { e.logf("ERR", format, v...) }
func (e embeddedLog) Debugf(format string, v ...any)  { e.logf("DBG", format, v...) }
func (e embeddedLog) Tracef(format string, v ...any)  { e.logf("TRC", format, v...) }

// runEmbeddedAuthNATS is runAuthNATS on the nats-server of go.mod, in
// process: the sample follows the definitions of its password variables
// (the process's environment is shared by parallel tests).
func runEmbeddedAuthNATS(t *testing.T) *authServer {
	t.Helper()
	dir := sampleDir(t)
	s := &authServer{passwords: map[string]string{}, log: &serverLog{}}
	var conf strings.Builder
	for user, v := range sampleUsers {
		s.passwords[user] = "pw" + strings.ReplaceAll(user, "-", "") + fmt.Sprint(time.Now().UnixNano())
		fmt.Fprintf(&conf, "%s: %q\n", v, s.passwords[user])
	}
	sample, err := os.ReadFile(filepath.Join(dir, "authorization.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// Variables of an including file do not reach the included one: the
	// sample follows them, verbatim, in the same file.
	fmt.Fprintf(&conf, "listen: \"127.0.0.1:-1\"\njetstream {\n  store_dir: %q\n}\n%s", filepath.Join(dir, "js"), sample)
	confPath := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		t.Fatalf("the embedded nats-server refused the sample: %v", err)
	}
	opts.NoSigs = true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.SetLogger(embeddedLog{s.log}, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatalf("embedded nats-server not ready:\n%s", s.log.String())
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	s.url = ns.ClientURL()
	return s
}

// outcome is what docs/security.md promises a role for a command.
type outcome int

const (
	allowed  outcome = iota // exit 0, no violation logged
	refused                 // exit 1, naming the permission; nothing done
	degraded                // exit 0 without the part the role may not read, saying which permission is missing
)

func (o outcome) String() string { return [...]string{"allowed", "refused", "degraded"}[o] }

// check asserts r is what o promises for user.
func (m *matrix) check(name, user string, o outcome, r result) {
	m.t.Helper()
	what := fmt.Sprintf("%s as %s (%s)", name, user, o)
	named := "NATS user " + user + " may not "
	switch o {
	case allowed:
		if r.code != 0 || len(r.denied) > 0 {
			m.t.Errorf("%s: exit %d, violations %v\nstdout:\n%s\nstderr:\n%s", what, r.code, r.denied, r.stdout, r.stderr)
		}
	case refused:
		m.awaitDenied(&r, 10*time.Second)
		if r.code != 1 || !strings.Contains(r.stderr, named) || !strings.Contains(r.stderr, "deploy/nats/authorization.conf") || len(r.denied) == 0 {
			m.t.Errorf("%s: exit %d, violations %v; want exit 1 naming the permission\nstdout:\n%s\nstderr:\n%s", what, r.code, r.denied, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "gave up waiting") {
			m.t.Errorf("%s: a refusal reported as a timeout:\n%s%s", what, r.stdout, r.stderr)
		}
	case degraded:
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, named) {
			m.t.Errorf("%s: exit %d; want exit 0 naming the missing permission\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
		}
	}
}

// jobID is the first job ID cdnpurge purge printed.
func jobID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`queued job (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no job queued:\n%s", out)
	}
	return m[1]
}

// Every documented command, run as every role of the sample against
// Debian's nats-server 2.9 with deploy/nats/authorization.conf as
// shipped, does what docs/security.md says: allowed ones succeed without
// a single permission violation in the server's log, refused ones exit 1
// naming the permission and the role that has it. This is where a new
// command or bucket gets its role.
//
// It runs against Debian's nats-server 2.9 (the oldest the sample is for,
// its password variables taken from the server's environment as the docs
// say) and against the nats-server of go.mod, embedded (the sample after
// a config that defines the variables), so that it runs
// where Debian's package is missing too and covers a current server.
func TestNATSRoleMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cdnpurge and runs every command as every role")
	}
	t.Parallel()
	// Each command runs as each role against both servers, some 80
	// short processes each, on a cdnpurge built without the race detector:
	// one with it takes several times the CPU to start, and the commands'
	// code runs under the race detector in cmd/cdnpurge's tests, in
	// process. What the matrix checks is what the servers allow. The
	// serves, long-lived and concurrent, are built with the race detector
	// against the embedded server (which runs wherever the tests do) when
	// the tests have it.
	t.Run("debian nats-server 2.9", func(t *testing.T) {
		t.Parallel()
		roleMatrix(t, runAuthNATS(t), false)
	})
	t.Run("embedded nats-server", func(t *testing.T) {
		t.Parallel()
		roleMatrix(t, runEmbeddedAuthNATS(t), raceBuild)
	})
}

// roleMatrix runs the matrix against srv, its serves built with the race
// detector (raceServe) or without.
func roleMatrix(t *testing.T, srv *authServer, raceServe bool) {
	bin, err := cdnpurgeBinaries[false]()
	if err != nil {
		t.Fatal(err)
	}
	serveBin, err := cdnpurgeBinaries[raceServe]()
	if err != nil {
		t.Fatal(err)
	}
	emu, err := cdnemu.NewServer(cdnemu.Options{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	m := &matrix{t: t, srv: srv, emu: emu, bin: bin, serveBin: serveBin, dir: t.TempDir(), pwFiles: map[string]string{}}
	for user, pw := range srv.passwords {
		m.pwFiles[user] = filepath.Join(m.dir, user+".password")
		if err := os.WriteFile(m.pwFiles[user], []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A schedule far from now, so that `schedules` reads the state bucket
	// and the scheduler never fires during the test.
	m.config = filepath.Join(m.dir, "cdnpurge.yaml")
	conf := "domains: [example.com]\nschedules:\n  - name: new-year-warmup\n    cron: \"0 0 1 1 *\"\n    action: push\n    paths: [\"https://example.com/\"]\n"
	if err := os.WriteFile(m.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.barrier, err = nats.Connect(srv.url, nats.UserInfo(roleViewer, srv.passwords[roleViewer]),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.barrier.Close)

	// Nothing exists yet: a producer's keyed purge cannot create the
	// idempotency bucket and says so at once, never "gave up waiting". (A
	// purge without a key claims nothing; before serve made the work
	// stream it fails as "is cdnpurge serve running?" after the publish
	// budget.)
	r := m.run(roleProducer, "purge", "--wait", "--timeout", "30s", "--idempotency-key", "early-1", "https://example.com/early.js")
	m.check("purge --wait before serve ever ran", roleProducer, refused, r)
	if !strings.Contains(r.stderr, "cdnpurge serve creates it at start") {
		t.Errorf("the refusal does not say who creates the bucket:\n%s", r.stderr)
	}

	// serve in the roles it is documented for, and not in a lower one.
	r = m.run(roleProducer, "serve", "--worker=false", "--scheduler=false")
	m.check("serve --worker=false --scheduler=false", roleProducer, refused, r)
	r = m.run(roleWebhooks, "serve", "--webhooks=false")
	m.check("serve --webhooks=false", roleWebhooks, refused, r)
	_, svcLog := m.serve(roleService, nil)
	// Serve made the buckets: the producer's first purge --wait, on a
	// server where no job was ever queued, completes.
	m.check("first purge --wait after serve started", roleProducer, allowed,
		m.run(roleProducer, "purge", "--wait", "--timeout", "60s", "https://example.com/first.js"))
	hooks, hooksLog := m.serve(roleWebhooks, []string{"CDNPURGE_WEBHOOKS_GENERIC_TOKEN=matrix-token-0123456789",
		"CDNPURGE_WEBHOOKS_GENERIC_HMAC_SECRET=matrix-hmac-secret-0123456789"}, "--worker=false", "--scheduler=false")
	req, _ := http.NewRequest(http.MethodPost, "http://"+hooks+"/hooks/generic",
		strings.NewReader(`{"kind":"refresh","refresh":{"paths":["https://example.com/hook.js"]}}`))
	req.Header.Set("Authorization", "Bearer matrix-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("generic hook on the webhooks-only replica: %s", resp.Status)
	}

	// The hook's job reaches the API (so that the error forced next is
	// not spent on it).
	for timeout := time.After(60 * time.Second); ; {
		answered := emu.Answered()
		if slices.Contains(emu.Paths("RefreshObjectCaches"), "https://example.com/hook.js") {
			break
		}
		select {
		case <-answered:
		case <-timeout:
			t.Fatal("the hook's job never reached the API")
		}
	}

	// A job the API refuses goes to the dead-letter archive through the
	// service's archive consumer (its acks are the service's).
	emu.ForceError("RefreshObjectCaches", 1, "InvalidObjectPath.Malformed")
	r = m.run(roleProducer, "purge", "--wait", "--timeout", "60s", "https://example.com/refused.js")
	if r.code != 1 || !strings.Contains(r.stdout, "rejected") || len(r.denied) > 0 {
		t.Fatalf("a purge the API refuses: exit %d, violations %v\n%s%s", r.code, r.denied, r.stdout, r.stderr)
	}
	failed := jobID(t, r.stdout)
	svc := srv.connect(t, roleService)
	archive, err := svc.js.KeyValue(t.Context(), worker.DefaultArchiveBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.Watch(t.Context(), "job."+failed)
	if err != nil {
		t.Fatal(err)
	}
	archived := false
	for e := range w.Updates() {
		if e != nil {
			archived = true
			break
		}
	}
	_ = w.Stop()
	if !archived {
		t.Fatalf("job %s never reached the archive", failed)
	}

	// A job the operator holds, for each role's cancel to try.
	// A pause reaches the workers through a watch of the control bucket
	// (within a second): a job purged at once may be sent before it. The
	// job is the one to cancel only once the service's worker logged it
	// held; one sent first is replaced by another.
	heldLine := "batch held by the operator pause"
	heldN := 0
	held := func() string {
		t.Helper()
		m.check("pause", roleOperator, allowed, m.run(roleOperator, "pause", "--reason", "matrix"))
		for range 3 {
			heldN++
			before := strings.Count(svcLog.String(), heldLine)
			r := m.run(roleProducer, "purge", fmt.Sprintf("https://example.com/held-%d.js", heldN))
			m.check("purge", roleProducer, allowed, r)
			if svcLog.waitUntil(func(s string) bool { return strings.Count(s, heldLine) > before }, 20*time.Second, nil) {
				return jobID(t, r.stdout)
			}
		}
		t.Fatalf("no purge was held by the operator pause; the service's serve logged:\n%s", svcLog.String())
		return ""
	}
	resume := func() { m.check("resume", roleOperator, allowed, m.run(roleOperator, "resume")) }

	type command struct {
		name string
		args func() []string
		// roles maps a role to its outcome; a role not listed is refused.
		roles map[string]outcome
		// around, if set, runs before the command and returns what to do
		// after it.
		around func() func()
	}
	all := func(o outcome) map[string]outcome {
		out := map[string]outcome{}
		for _, r := range allRoles {
			out[r] = o
		}
		return out
	}
	var target string
	static := func(args ...string) func() []string { return func() []string { return args } }
	commands := []command{
		{name: "purge", args: static("purge", "https://example.com/a.js"),
			roles: map[string]outcome{roleProducer: allowed, roleOperator: allowed, roleWebhooks: allowed, roleService: allowed}},
		{name: "push", args: static("push", "https://example.com/b.js"),
			roles: map[string]outcome{roleProducer: allowed, roleOperator: allowed, roleWebhooks: allowed, roleService: allowed}},
		{name: "purge --wait", args: static("purge", "--wait", "--timeout", "60s", "https://example.com/c.js"),
			roles: map[string]outcome{roleProducer: allowed, roleOperator: allowed, roleService: allowed}},
		{name: "jobs list", args: static("jobs", "list"),
			roles: map[string]outcome{roleViewer: allowed, roleOperator: allowed, roleService: allowed}},
		{name: "jobs show", args: func() []string { return []string{"jobs", "show", failed} },
			roles: map[string]outcome{roleViewer: allowed, roleOperator: allowed, roleService: allowed}},
		// The webhooks read the pauses for /readyz.
		{name: "quota", args: static("quota"),
			roles: map[string]outcome{roleProducer: degraded, roleViewer: allowed, roleOperator: allowed, roleWebhooks: allowed, roleService: allowed}},
		{name: "tasks", args: static("tasks"), roles: all(allowed)},
		{name: "service status", args: static("service", "status"), roles: all(allowed)},
		{name: "schedules", args: static("schedules"),
			roles: map[string]outcome{roleProducer: degraded, roleViewer: allowed, roleOperator: allowed, roleWebhooks: degraded, roleService: allowed}},
		{name: "jobs retry", args: func() []string { return []string{"jobs", "retry", failed} },
			roles: map[string]outcome{roleOperator: allowed, roleService: allowed}},
		{name: "jobs cancel", args: func() []string { return []string{"jobs", "cancel", target} },
			roles:  map[string]outcome{roleOperator: allowed, roleService: allowed},
			around: func() func() { target = held(); return resume }},
		{name: "pause", args: static("pause", "--for", "1m", "--reason", "matrix"),
			roles: map[string]outcome{roleOperator: allowed, roleService: allowed}, around: func() func() { return resume }},
		{name: "resume", args: static("resume"), roles: map[string]outcome{roleOperator: allowed, roleService: allowed}},
	}
	for _, c := range commands {
		for _, user := range allRoles {
			o, ok := c.roles[user]
			if !ok {
				o = refused
			}
			var after func()
			if c.around != nil {
				after = c.around()
			}
			m.check(c.name, user, o, m.run(user, c.args()...))
			if after != nil {
				after()
			}
		}
	}

	// The cancel of the operator took: the held job ended cancelled.
	r = m.run(roleViewer, "--output", "json", "jobs", "list", "--state", "cancelled")
	var list struct {
		Jobs []struct{ ID string } `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Jobs) == 0 {
		t.Errorf("no cancelled job listed (%v):\n%s", err, r.stdout)
	}

	// The two serves ran the whole matrix without one refusal, and no
	// command as the service was refused anything.
	for _, l := range []*serverLog{svcLog, hooksLog} {
		if strings.Contains(l.String(), "NATS refused") {
			t.Errorf("a serve was refused a request:\n%s", l.String())
		}
	}
	for _, v := range srv.log.violations(0) {
		if v.user == roleService {
			t.Errorf("the service was refused: %s on %s", v.kind, v.subject)
		}
	}
}

// The service's own consumers stay the service's: a viewer or operator
// can read the status stream through consumers of its own, but cannot
// take over, drain or delete the worker's or the archiver's.
func TestNATSRolesGuardServiceConsumers(t *testing.T) {
	t.Parallel()
	srv := runAuthNATS(t)
	svc := srv.connect(t, roleService)
	ctx := t.Context()
	if _, err := svc.js.CreateStream(ctx, jetstream.StreamConfig{Name: "CDNPURGE_STATUS", Subjects: []string{"cdn.status.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{roleViewer, roleOperator} {
		c := srv.connect(t, user)
		for _, s := range []string{"$JS.API.CONSUMER.CREATE.CDNPURGE_STATUS.cdnpurge-archive.cdn.status.>",
			"$JS.API.CONSUMER.CREATE.CDNPURGE_STATUS.cdnpurge-archive", "$JS.API.CONSUMER.MSG.NEXT.CDNPURGE_STATUS.cdnpurge-archive",
			"$JS.API.CONSUMER.DELETE.CDNPURGE_STATUS.cdnpurge-archive", "$JS.API.STREAM.DELETE.CDNPURGE_STATUS",
			"$JS.API.STREAM.PURGE.CDNPURGE", "cdn.sched.nightly", "cdn.status.invalid"} {
			c.refused(t, s, "")
		}
	}
}

// The sample and the role table cdnpurge names refusals by
// (queue.Roles) grant the same subjects to the same users, so that a
// refusal names the role that really has the permission.
func TestSampleMatchesRoleTable(t *testing.T) {
	for user, v := range sampleUsers {
		t.Setenv(v, "pw"+strings.ReplaceAll(user, "-", ""))
	}
	dir := sampleDir(t)
	confPath := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte("include ./authorization.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]queue.Role{}
	for _, r := range queue.Roles(queue.RoleNames{}) {
		table[r.User] = r
	}
	if len(opts.Users) != len(table) {
		t.Fatalf("the sample has %d users, the role table %d roles", len(opts.Users), len(table))
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	for _, u := range opts.Users {
		r, ok := table[u.Username]
		if !ok {
			t.Errorf("user %s of the sample has no role in queue.Roles", u.Username)
			continue
		}
		p := u.Permissions
		if p == nil || p.Publish == nil || p.Subscribe == nil {
			t.Errorf("user %s: no publish or subscribe permissions", u.Username)
			continue
		}
		for _, c := range []struct {
			what        string
			sample, tab []string
		}{
			{"publish allow", p.Publish.Allow, r.Publish},
			{"publish deny", p.Publish.Deny, r.DenyPublish},
			{"subscribe allow", p.Subscribe.Allow, r.Subscribe},
			{"subscribe deny", p.Subscribe.Deny, nil},
		} {
			if got, want := sorted(c.sample), sorted(c.tab); !slices.Equal(got, want) {
				t.Errorf("user %s (role %s), %s:\nsample %q\ntable  %q", u.Username, r.Name, c.what, got, want)
			}
		}
	}
}

// The variables the sample reads from nats-server's environment are
// outside cdnpurge's own CDNPURGE_* namespace: cdnpurge refuses unknown
// CDNPURGE_* variables, and one shell or env file often serves both.
func TestSampleVariablesAreNotCdnpurges(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("nats", "authorization.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, l := range strings.Split(string(b), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			code = append(code, l)
		}
	}
	refs := regexp.MustCompile(`:\s*\$([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(strings.Join(code, "\n"), -1)
	if len(refs) == 0 {
		t.Fatal("the sample reads no variable")
	}
	var fromEnv []string
	for _, r := range refs {
		if strings.HasPrefix(r[1], "CDNPURGE") {
			t.Errorf("the sample reads $%s: a CDNPURGE_* name is cdnpurge's own", r[1])
		}
		if !strings.HasPrefix(r[1], "ROLE_") {
			fromEnv = append(fromEnv, r[1])
		}
	}
	var want []string
	for _, v := range sampleUsers {
		want = append(want, v)
	}
	slices.Sort(fromEnv)
	slices.Sort(want)
	if !slices.Equal(fromEnv, want) {
		t.Errorf("the sample reads %v from the environment, the tests set %v", fromEnv, want)
	}
}
