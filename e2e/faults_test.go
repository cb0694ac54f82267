package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// statusWatch counts the status events of a cluster by state, and keeps
// the invalid reports, from a core NATS subscription on cdn.status.>.
type statusWatch struct {
	sub *nats.Subscription

	mu      sync.Mutex
	states  map[string]int
	invalid []statusEvent
	reasons map[string]string // job ID -> reason of a rejection
}

type statusEvent struct {
	JobID   string `json:"job_id"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
	Subject string `json:"subject"`
}

func watchStatus(t *testing.T, ld *loader) *statusWatch {
	t.Helper()
	w := &statusWatch{states: map[string]int{}, reasons: map[string]string{}}
	sub, err := ld.nc.Subscribe("cdn.status.>", func(m *nats.Msg) {
		var ev statusEvent
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.states[ev.State]++
		switch ev.State {
		case "invalid":
			// An invalid report goes to cdn.status.invalid and, when the
			// message had a job ID, to cdn.status.<id> too: count one.
			if m.Subject == "cdn.status.invalid" {
				w.invalid = append(w.invalid, ev)
			}
		case "rejected":
			w.reasons[ev.JobID] = ev.Reason
		}
	})
	if err != nil {
		t.Fatalf("subscribe to status events: %v", err)
	}
	if err := ld.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	w.sub = sub
	return w
}

func (w *statusWatch) count(state string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.states[state]
}

// invalidOn counts the invalid reports of messages on subjects starting
// with prefix.
func (w *statusWatch) invalidOn(prefix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ev := range w.invalid {
		if strings.HasPrefix(ev.Subject, prefix) {
			n++
		}
	}
	return n
}

// invalidIn counts the invalid reports of messages on the subjects of set.
func (w *statusWatch) invalidIn(set map[string]bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ev := range w.invalid {
		if set[ev.Subject] {
			n++
		}
	}
	return n
}

// reasonIn returns the reason of the first invalid report on a subject
// of set (or with prefix, when set is nil).
func (w *statusWatch) reasonIn(set map[string]bool, prefix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range w.invalid {
		if set[ev.Subject] || set == nil && strings.HasPrefix(ev.Subject, prefix) {
			return ev.Reason
		}
	}
	return ""
}

// cli runs the cdnpurge binary with the cluster's config and the
// credentials of replica r, and returns its combined output.
func (c *cluster) cli(r *replica, args ...string) (string, error) {
	cmd := exec.Command(binPath, append([]string{"--config", c.confPath}, args...)...)
	cmd.Env = c.replicaEnv(r)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// offlineDomain is scenario 10: example.com is stopped in the emulator
// (cdnpurge domain StopCdnDomain, as an operator or a schedule would) while
// hooks for it and two other domains arrive, then started again.
func offlineDomain(t *testing.T, run *runState, sz sizes, f *figures) {
	// The worker defers a stopped domain only when apiclient gives
	// InvalidDomain.Offline a class of its own; before that it rejects.
	if cls := (&apiclient.Error{Code: "InvalidDomain.Offline"}).Class().String(); cls != "domain_down" {
		f.add("skipped: apiclient classifies InvalidDomain.Offline as %q, not domain_down", cls)
		t.Skipf("this tree lacks the worker's deferral of stopped domains (apiclient.ClassDomainDown and worker/domains.go, "+
			"\"worker: a stopped or changing domain defers its paths with backoff\"): InvalidDomain.Offline is class %q here, so jobs would be rejected", cls)
	}
	c := newCluster(t, run, "offline-domain", clusterOpts{})
	ld := newLoader(c)
	sw := watchStatus(t, ld)
	if out, err := c.cli(c.replicas[0], "domain", "StopCdnDomain", "DomainName=example.com"); err != nil {
		t.Fatalf("cdnpurge domain StopCdnDomain: %v\n%s", err, out)
	}
	stoppedAt := time.Now()
	ctx := ctxFor(t, 5*time.Minute)
	res := ld.run(ctx, loadOpts{tag: "offline", urls: sz.offlineURLs, duration: 3 * time.Second, only: viaBearer})
	onStopped, others := map[string]bool{}, map[string]bool{}
	for p := range res.accepted {
		if strings.HasPrefix(p, "example.com/") {
			onStopped[p] = true
		} else {
			others[p] = true
		}
	}
	// The other domains land while example.com is stopped.
	lo := c.waitLanded(others, 2*time.Minute)
	// Hold the stop a while longer: the deferred batches come back and are
	// answered InvalidDomain.Offline again.
	waitFor(sz.offlineHold, func() bool { return false })
	before := c.landed()
	landedStopped := 0
	for p := range onStopped {
		if _, ok := before.first[p]; ok {
			landedStopped++
		}
	}
	offline := c.stats().Actions["RefreshObjectCaches"].Codes["InvalidDomain.Offline"]
	if out, err := c.cli(c.replicas[0], "domain", "StartCdnDomain", "DomainName=example.com"); err != nil {
		t.Fatalf("cdnpurge domain StartCdnDomain: %v\n%s", err, out)
	}
	startedAt := time.Now()
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)
	rejected := sw.count("rejected")
	f.add("example.com stopped for %s under %d URLs (%d on it); other domains landed %d of %d while it was stopped",
		startedAt.Sub(stoppedAt).Round(100*time.Millisecond), len(res.accepted), len(onStopped), len(others)-lo.missing(others), len(others))
	f.add("%d calls answered InvalidDomain.Offline; %d of its paths landed while stopped", offline, landedStopped)
	f.add("after StartCdnDomain: landed %d of %d, missing %d, the last %s after the start; rejected status events %d, deferred %d",
		len(res.accepted)-missing, len(res.accepted), missing, max(0, lastLanding(onStopped, l).Sub(startedAt)).Round(100*time.Millisecond),
		rejected, sw.count("deferred"))
	if offline == 0 {
		t.Error("no call met the stopped domain: the scenario proved nothing")
	}
	if missing > 0 || res.refused > 0 || landedStopped > 0 {
		t.Errorf("missing %d, never acknowledged %d units, landed on the stopped domain %d", missing, res.refused, landedStopped)
	}
	if rejected > 0 {
		sw.mu.Lock()
		t.Errorf("%d jobs rejected, e.g. %v", rejected, sw.reasons)
		sw.mu.Unlock()
	}
}

// lostStream is scenario 11: every stream of the nats-server (the work,
// tick and status streams and the key-value buckets) is deleted under the
// running replicas while hooks arrive.
func lostStream(t *testing.T, run *runState, sz sizes, f *figures) {
	c := newCluster(t, run, "lost-stream", clusterOpts{})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	// Before: a load that lands, so the streams hold real state.
	warm := ld.run(ctx, loadOpts{tag: "lostwarm", urls: 1000, duration: time.Second, only: viaBearer})
	c.waitLanded(warm.accepted, time.Minute)

	var names []string
	for n := range ld.js.StreamNames(ctx).Name() {
		names = append(names, n)
	}
	slices.Sort(names)
	var res *loadResult
	done := make(chan struct{})
	deletedAt := time.Now()
	for _, n := range names {
		if err := ld.js.DeleteStream(ctx, n); err != nil {
			t.Fatalf("delete stream %s: %v", n, err)
		}
	}
	go func() {
		defer close(done)
		res = ld.run(ctx, loadOpts{tag: "lost", urls: sz.lostURLs, duration: 6 * time.Second})
	}()
	// Recovered: every stream is back and every replica's /readyz answers
	// 200; the first non-200 /readyz answer is noted on the way.
	notReady := make([]time.Duration, len(c.replicas))
	recreated := map[string]bool{}
	client := &http.Client{Timeout: time.Second}
	recovered := waitFor(time.Minute, func() bool {
		clear(recreated)
		for n := range ld.js.StreamNames(ctx).Name() {
			recreated[n] = true
		}
		ok := len(recreated) >= len(names)
		for i, r := range c.replicas {
			code := 0
			if resp, err := client.Get(r.base + "/readyz"); err == nil {
				resp.Body.Close()
				code = resp.StatusCode
			}
			if code != http.StatusOK {
				ok = false
				if notReady[i] == 0 {
					notReady[i] = time.Since(deletedAt)
				}
			}
		}
		return ok
	})
	took := time.Since(deletedAt)
	<-done
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)
	var per []string
	for i, r := range c.replicas {
		if notReady[i] > 0 {
			per = append(per, fmt.Sprintf("%s not ready %s after the deletion", r.name, notReady[i].Round(10*time.Millisecond)))
		} else {
			per = append(per, r.name+" never seen not ready")
		}
	}
	codes := res.codes()
	f.add("%d streams deleted (%s) under 2 replicas; re-created %d of them", len(names), strings.Join(names, ", "), len(recreated))
	f.add("/readyz: %s; every stream back and both /readyz 200 %.1f s after the deletion (recovered %v)", strings.Join(per, ", "), took.Seconds(), recovered)
	f.add("cdnpurge_jetstream_recreated_total %.0f", c.metric("cdnpurge_jetstream_recreated_total"))
	f.add("hooks and NATS publishes from the deletion on: %d URLs, %d acknowledged, landed %d, missing %d, never acknowledged %d units; answers %v",
		sz.lostURLs, len(res.accepted), len(res.accepted)-missing, missing, res.refused, codes)
	if !recovered {
		t.Error("the streams and /readyz did not recover within a minute")
	}
	for _, n := range names {
		if !recreated[n] {
			t.Errorf("stream %s was not re-created", n)
		}
	}
	if missing > 0 || res.refused > 0 {
		t.Errorf("missing %d, never acknowledged %d units", missing, res.refused)
	}
}

// syncStorm is scenario 12: DescribeRefreshQuota fails (500 InternalError,
// every call, every call taking 200 ms) while a burst larger than the
// quota waits for it. The bound: one sync in flight per process.
func syncStorm(t *testing.T, run *runState, sz sizes, f *figures) {
	quota := int64(sz.stormURLs / 5)
	c := newCluster(t, run, "sync-storm", clusterOpts{urlQuota: quota})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	const latency = 200 * time.Millisecond
	c.emuPost("/_emulator/faults", fmt.Sprintf(`{"latency":%q}`, latency))
	c.emuPost("/_emulator/force", `{"action":"DescribeRefreshQuota","code":"InternalError","n":100000000}`)
	from := time.Now()
	res := ld.run(ctx, loadOpts{tag: "storm", urls: sz.stormURLs, duration: 2 * time.Second})
	if !waitFor(time.Minute, func() bool { return c.stats().Quota.Used.URL >= quota }) {
		t.Errorf("quota used stayed at %d of %d", c.stats().Quota.Used.URL, quota)
	}
	waitFor(sz.stormHold, func() bool { return false })
	to := time.Now()
	calls := emuCalls(t, c, "DescribeRefreshQuota", from, to)
	c.emuPost("/_emulator/force", `{"clear":true}`)
	c.emuPost("/_emulator/faults", `{}`)
	c.emuPost("/_emulator/quota", fmt.Sprintf(`{"url":%d}`, sz.stormURLs*2))
	raisedAt := time.Now()
	l := c.waitLanded(res.accepted, 3*time.Minute)
	missing := l.missing(res.accepted)

	perSec := map[int64]int{}
	for _, at := range calls {
		perSec[at.Unix()]++
	}
	busiest := 0
	for _, n := range perSec {
		busiest = max(busiest, n)
	}
	// Answers less than the latency apart were in flight together.
	inFlight := 0
	for i := range calls {
		j := i
		for j < len(calls) && calls[j].Sub(calls[i]) <= latency {
			j++
		}
		inFlight = max(inFlight, j-i)
	}
	secs := to.Sub(from).Seconds()
	f.add("quota %d URLs for a burst of %d; DescribeRefreshQuota answered 500 (+%s) for %.0f s", quota, len(res.accepted), latency, secs)
	f.add("DescribeRefreshQuota calls %d (%.1f/s, busiest second %d) from %d replicas x %d submitters; most in flight at once %d (bound %d: one per process)",
		len(calls), float64(len(calls))/secs, busiest, len(c.replicas), submitters, inFlight, len(c.replicas))
	f.add("after the fault ended and the quota was raised: landed %d of %d, missing %d, the last %s later",
		len(res.accepted)-missing, len(res.accepted), missing, max(0, lastLanding(res.accepted, l).Sub(raisedAt)).Round(100*time.Millisecond))
	if len(calls) == 0 {
		t.Error("no DescribeRefreshQuota call during the fault: the scenario proved nothing")
	}
	if inFlight > len(c.replicas) {
		t.Errorf("%d DescribeRefreshQuota calls in flight at once, bound %d (one per process)", inFlight, len(c.replicas))
	}
	if missing > 0 || res.refused > 0 {
		t.Errorf("missing %d, never acknowledged %d units", missing, res.refused)
	}
}

// emuCalls returns the answer times of the calls of action in [from, to),
// in order.
func emuCalls(t *testing.T, c *cluster, action string, from, to time.Time) []time.Time {
	t.Helper()
	var out []time.Time
	sc := bufio.NewScanner(bytes.NewReader(c.emuGet("/_emulator/calls?action=" + action)))
	for sc.Scan() {
		ts, _, _ := strings.Cut(sc.Text(), " ")
		ns, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			continue
		}
		if at := time.Unix(0, ns); !at.Before(from) && at.Before(to) {
			out = append(out, at)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// secondServe is scenario 13: a second `cdnpurge serve` on the data
// directory of a running one refuses at once, naming the holder's PID, and
// the first one goes on.
func secondServe(t *testing.T, run *runState, f *figures) {
	dir := t.TempDir()
	logDir := run.logDir + "/second-serve"
	_ = os.MkdirAll(logDir, 0o755)
	token := run.secrets.GenericToken
	env := func() []string {
		return append(baseEnv(),
			"CDNPURGE_WEBHOOKS_LISTEN=127.0.0.1:"+strconv.Itoa(freePort(t)),
			"CDNPURGE_ADMIN_LISTEN=127.0.0.1:"+strconv.Itoa(freePort(t)),
			"CDNPURGE_NATS_EMBEDDED_PORT="+strconv.Itoa(freePort(t)),
			"CDNPURGE_NATS_EMBEDDED_STORE_DIR="+dir,
			"CDNPURGE_WEBHOOKS_GENERIC_TOKEN="+token)
	}
	firstEnv := env()
	var base string
	for _, kv := range firstEnv {
		if v, ok := strings.CutPrefix(kv, "CDNPURGE_WEBHOOKS_LISTEN="); ok {
			base = "http://" + v
		}
	}
	first := startProc(t, logDir, "first", firstEnv, binPath, "--log-format", "json", "serve", "--emulator")
	waitHTTP(t, first, base+"/readyz", 30*time.Second)
	firstLog := fileSize(first.logPath)

	start := time.Now()
	cmd := exec.Command(binPath, "--log-format", "json", "serve", "--emulator")
	cmd.Env = env()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	pid := strconv.Itoa(first.cmd.Process.Pid)
	names := strings.Contains(string(out), "in use by process "+pid)
	line := ""
	for l := range strings.Lines(string(out)) {
		if strings.Contains(l, "in use by") {
			line = strings.TrimSpace(l)
			break
		}
	}
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	body := fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/second-serve-%s.js"]}}`, run.id)
	req := newJSONRequest(context.Background(), base+"/hooks/generic", body)
	req.Header.Set("Authorization", "Bearer "+token)
	code := 0
	if resp, herr := http.DefaultClient.Do(req); herr == nil {
		resp.Body.Close()
		code = resp.StatusCode
	}
	rebuilt := strings.Contains(readFrom(first.logPath, firstLog), "rebuil")
	f.add("second serve on the same store exited in %s (%v), naming pid %s: %v", took.Round(time.Millisecond), err, pid, names)
	f.add("its message: %s", line)
	f.add("the first serve afterwards: alive %v, hook %d, logged a store rebuild %v", first.alive(), code, rebuilt)
	if err == nil {
		t.Error("the second serve exited 0")
	}
	if !names {
		t.Errorf("the second serve's output does not name pid %s:\n%s", pid, out)
	}
	if !first.alive() || code != http.StatusAccepted || rebuilt {
		t.Errorf("first serve: alive %v, hook %d, rebuilt its store %v", first.alive(), code, rebuilt)
	}
}

// readFrom returns the file from offset on.
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}
