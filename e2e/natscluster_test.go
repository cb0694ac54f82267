package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsCluster is three nats-server processes in one JetStream cluster, on
// loopback ports of their own, each with its store directory kept across
// restarts.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

type natsNode struct {
	t                 *testing.T
	name, logDir, dir string
	port, routePort   int
	routes            string
	proc              *proc
}

// startNATSCluster starts the three servers and waits until JetStream
// can place a stream on all three. It needs /usr/sbin/nats-server: the
// embedded helper runs one server only.
func startNATSCluster(t *testing.T, logDir string) *natsCluster {
	t.Helper()
	if !systemNATSUsable() {
		t.Skip("the NATS cluster scenario needs /usr/sbin/nats-server 2.9 or newer")
	}
	c := &natsCluster{t: t}
	var routes []string
	for i := range 3 {
		n := &natsNode{t: t, name: fmt.Sprintf("n%d", i+1), logDir: logDir, dir: t.TempDir(),
			port: freePort(t), routePort: freePort(t)}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", n.routePort))
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		n.routes = strings.Join(routes, ",")
		n.start()
	}
	nc, js := c.connect()
	defer nc.Close()
	// A meta leader answers before every server joined the meta group;
	// a stream of 3 replicas made then is refused ("no suitable peers for
	// placement"), which on a loaded machine the replicas' first start
	// met. Ready is when such a stream can be placed.
	const probe = "E2E_PLACEMENT_PROBE"
	if !waitFor(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: probe, Subjects: []string{"e2e.placement.probe"},
			Replicas: 3, Storage: jetstream.MemoryStorage})
		return err == nil || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse)
	}) {
		t.Fatal("the NATS cluster could not place a stream of 3 replicas within 30 s")
	}
	// The probe holds nothing; one left behind changes nothing the
	// scenario looks at.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := js.DeleteStream(ctx, probe); err != nil {
		t.Logf("delete the placement probe: %v", err)
	}
	return c
}

func (n *natsNode) start() {
	n.t.Helper()
	_ = os.MkdirAll(n.logDir, 0o755)
	n.proc = startProc(n.t, n.logDir, "nats-"+n.name, baseEnv(), systemNATS,
		"-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-n", n.name, "-js", "-sd", n.dir,
		"--cluster_name", "e2e", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.routePort), "--routes", n.routes)
	waitTCP(n.t, n.proc, fmt.Sprintf("127.0.0.1:%d", n.port), 15*time.Second)
}

// URLs is the comma-separated client URLs of every server.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.port))
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) connect() (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Name("e2e-cluster"))
	if err != nil {
		c.t.Fatalf("connect to the NATS cluster: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return nc, js
}

// node returns the server named name.
func (c *natsCluster) node(name string) *natsNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// natsClusterSizes are the phases of scenario 15: hooks per second, how
// long the load runs, when the leader is killed and for how long.
type natsClusterSizes struct {
	hooksPerSec, natsPerSec int
	warm, down, after       time.Duration
	cliPurges               int
}

func natsClusterSize(size string) natsClusterSizes {
	if size == "short" {
		return natsClusterSizes{hooksPerSec: 10, natsPerSec: 5, warm: 2 * time.Second, down: 10 * time.Second, after: 4 * time.Second, cliPurges: 3}
	}
	return natsClusterSizes{hooksPerSec: 20, natsPerSec: 10, warm: 10 * time.Second, down: 15 * time.Second, after: 10 * time.Second, cliPurges: 10}
}

// natsLeaderLoss is scenario 15: two replicas (webhooks and worker each)
// on a 3-server NATS cluster with nats.replicas 3; the server leading the
// work stream is SIGKILLed while hooks, NATS publishers and queued CLI
// purges arrive, and started again after the hold. Every hook must be
// answered 202 (within GitHub's 10 s), and every acknowledged path land.
func natsLeaderLoss(t *testing.T, run *runState, f *figures) {
	sz := natsClusterSize(run.size)
	logDir := filepath.Join(run.logDir, "nats-cluster")
	nc := startNATSCluster(t, logDir)
	c := newCluster(t, run, "nats-cluster", clusterOpts{natsCluster: nc})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	total := sz.warm + sz.down + sz.after
	// One hook or message per unit of perUnit paths; hooks carry a job ID
	// (so their idempotency claim rides through the election too).
	hookURLs := int(total.Seconds()) * sz.hooksPerSec * perUnit
	natsURLs := int(total.Seconds()) * sz.natsPerSec * perUnit
	var hooks, msgs *loadResult
	var wg sync.WaitGroup
	loadStart := time.Now()
	wg.Go(func() {
		hooks = ld.run(ctx, loadOpts{tag: "cluster-hooks", urls: hookURLs, duration: total, workers: 2 * sz.hooksPerSec, only: viaBearer})
	})
	wg.Go(func() {
		msgs = ld.run(ctx, loadOpts{tag: "cluster-nats", urls: natsURLs, duration: total, workers: 8, only: viaNATS})
	})

	// The work stream's leader, as the cluster reports it.
	cnc, js := nc.connect()
	defer cnc.Close()
	var leader string
	if !waitFor(sz.warm+20*time.Second, func() bool {
		s, err := js.Stream(ctx, "CDNPURGE")
		if err != nil || s.CachedInfo().Cluster == nil {
			return false
		}
		leader = s.CachedInfo().Cluster.Leader
		return leader != "" && len(s.CachedInfo().Cluster.Replicas) == 2
	}) {
		t.Fatal("the work stream has no leader with two replicas: nats.replicas 3 did not take")
	}
	<-time.After(time.Until(loadStart.Add(sz.warm)))
	victim := nc.node(leader)
	victim.proc.kill()
	killedAt := time.Now()

	// Queued CLI purges while the leader is gone, one after the other.
	var cliFailed int
	var cliLongest time.Duration
	cliQueued := map[string]bool{}
	for i := range sz.cliPurges {
		t0 := time.Now()
		path := fmt.Sprintf("example.com/e2e/cluster-cli/%s/%d.js", run.id, i)
		out, err := c.cli(c.replicas[0], "purge", "https://"+path)
		cliLongest = max(cliLongest, time.Since(t0))
		if err != nil {
			cliFailed++
			t.Logf("queued CLI purge %d during the election: %v\n%s", i, err, out)
			continue
		}
		cliQueued[path] = true
	}
	<-time.After(time.Until(killedAt.Add(sz.down)))
	victim.start()
	restartedAt := time.Now()
	wg.Wait()
	loadEnd := time.Now()

	want := map[string]bool{}
	for p := range hooks.accepted {
		want[p] = true
	}
	for p := range msgs.accepted {
		want[p] = true
	}
	for p := range cliQueued {
		want[p] = true
	}
	l := c.waitLanded(want, 3*time.Minute)
	landedAt := time.Now()
	missing := l.missing(want)
	dup, over := paidTwiceAndOver(c.stats())
	refused, longest := hookAnswers(hooks)
	natsRefused := 0
	for _, a := range msgs.attempts {
		if a.code != http.StatusOK {
			natsRefused++
		}
	}
	f.add("3 nats-server, nats.replicas 3; leader %s of the work stream SIGKILLed for %s", leader, restartedAt.Sub(killedAt).Round(100*time.Millisecond))
	// The election, as the hooks saw it: answers slower than 2 s, and how
	// long after the kill the last of them was sent.
	slow, slowUntil := 0, time.Duration(0)
	for _, a := range hooks.attempts {
		if a.done.Sub(a.sent) > 2*time.Second {
			slow++
			slowUntil = max(slowUntil, a.sent.Sub(killedAt))
		}
	}
	f.add("%d hooks answered after more than 2 s, sent up to %s after the kill", slow, slowUntil.Round(100*time.Millisecond))
	t.Logf("phases: load %s, landed %s after the load", loadEnd.Sub(loadStart).Round(time.Second), landedAt.Sub(loadEnd).Round(time.Second))
	spooled := 0
	for _, r := range c.replicas {
		if b, err := os.ReadFile(r.proc.logPath); err == nil {
			spooled += strings.Count(string(b), "request spooled to disk")
		}
	}
	f.add("hooks %d (%d/s): refused %d, spooled %d, longest answer %s", len(hooks.attempts), sz.hooksPerSec, refused, spooled, longest.Round(10*time.Millisecond))
	f.add("NATS publishes %d, not acked at once %d (the test's own publisher, resent)", len(msgs.attempts), natsRefused)
	f.add("queued CLI purges %d: failed %d, longest %s", sz.cliPurges, cliFailed, cliLongest.Round(10*time.Millisecond))
	f.add("lost paths %d of %d acknowledged; paths paid twice %d; QuotaExceeded %d", missing, len(want), dup, over)
	// JetStream elects a new stream leader 4 to 9 s after the old one's
	// last heartbeat (nats-server's raft election timeout); a hook that
	// arrives just after the kill outlasts the 8 s publish budget and
	// waits in its replica's spool (webhooks.spool_dir) instead of being
	// refused.
	if refused > 0 {
		t.Errorf("%d hooks were not answered 202 while the stream leader was lost; answers %v", refused, hooks.codes())
	}
	if cliFailed > 0 {
		t.Errorf("%d queued CLI purges failed while the stream leader was lost", cliFailed)
	}
	if longest > 10*time.Second {
		t.Errorf("the longest hook answer took %s, past GitHub's 10 s", longest)
	}
	if missing > 0 {
		t.Errorf("%d acknowledged paths never reached the API", missing)
	}
	if over > 0 {
		t.Errorf("%d calls answered QuotaExceeded", over)
	}
}
