package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// sentinelSet is a Redis primary, one replica and three Sentinels
// watching them, on loopback ports of their own.
type sentinelSet struct {
	primary, replica *proc
	primaryPort      int
	sentinels        []string // host:port
}

const sentinelMaster = "e2e"

func startSentinelSet(t *testing.T, logDir string) *sentinelSet {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: the Sentinel scenario needs it")
	}
	_ = os.MkdirAll(logDir, 0o755)
	s := &sentinelSet{primaryPort: freePort(t)}
	replicaPort := freePort(t)
	common := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"}
	s.primary = startProc(t, logDir, "redis-primary", baseEnv(), bin,
		append([]string{"--port", strconv.Itoa(s.primaryPort), "--dir", t.TempDir()}, common...)...)
	waitTCP(t, s.primary, fmt.Sprintf("127.0.0.1:%d", s.primaryPort), 10*time.Second)
	s.replica = startProc(t, logDir, "redis-replica", baseEnv(), bin,
		append([]string{"--port", strconv.Itoa(replicaPort), "--dir", t.TempDir(),
			"--replicaof", "127.0.0.1", strconv.Itoa(s.primaryPort)}, common...)...)
	waitTCP(t, s.replica, fmt.Sprintf("127.0.0.1:%d", replicaPort), 10*time.Second)
	for i := range 3 {
		port := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			port, dir, sentinelMaster, s.primaryPort, sentinelMaster, sentinelMaster, sentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, logDir, fmt.Sprintf("sentinel-%d", i+1), baseEnv(), bin, conf, "--sentinel")
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		waitTCP(t, p, addr, 10*time.Second)
		s.sentinels = append(s.sentinels, addr)
	}
	// Ready when the replica is in sync and every Sentinel knows it and
	// the others.
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", replicaPort)})
	defer rc.Close()
	if !waitFor(30*time.Second, func() bool {
		info, _ := rc.Info(context.Background(), "replication").Result()
		if !strings.Contains(info, "master_link_status:up") {
			return false
		}
		for _, a := range s.sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: a})
			reps, err1 := sc.Replicas(context.Background(), sentinelMaster).Result()
			sens, err2 := sc.Sentinels(context.Background(), sentinelMaster).Result()
			_ = sc.Close()
			if err1 != nil || err2 != nil || len(reps) != 1 || len(sens) != 2 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the Sentinels did not see the replica and each other within 30 s")
	}
	return s
}

// primaryAddr is the primary the Sentinels name now.
func (s *sentinelSet) primaryAddr() string {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.sentinels[0]})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(context.Background(), sentinelMaster).Result()
	if err != nil || len(a) != 2 {
		return ""
	}
	return a[0] + ":" + a[1]
}

// quoteList renders addrs as a YAML flow list.
func quoteList(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// redisHASizes are the phases of scenarios 16 and 17.
type redisHASizes struct {
	hooksPerSec       int
	warm, down, after time.Duration
}

func redisHASize(size string) redisHASizes {
	if size == "short" {
		return redisHASizes{hooksPerSec: 10, warm: 2 * time.Second, down: 6 * time.Second, after: 4 * time.Second}
	}
	return redisHASizes{hooksPerSec: 20, warm: 10 * time.Second, down: 15 * time.Second, after: 10 * time.Second}
}

// hookAnswers counts the hooks of a load not answered 202 and returns
// the longest answer.
func hookAnswers(hooks *loadResult) (refused int, longest time.Duration) {
	for _, a := range hooks.attempts {
		if a.code != http.StatusAccepted {
			refused++
		}
		longest = max(longest, a.done.Sub(a.sent))
	}
	return refused, longest
}

// paidTwiceAndOver are the paths the emulator was sent more than once
// and the refresh calls it answered QuotaExceeded.
func paidTwiceAndOver(st emuStats) (dup, over int) {
	return st.Paths["RefreshObjectCaches"].Duplicates, st.Actions["RefreshObjectCaches"].Codes["QuotaExceeded.Refresh"]
}

// haReport adds the figures every high-availability row reports and fails
// the row on refused hooks, lost paths or QuotaExceeded beyond allowed.
func haReport(t *testing.T, c *cluster, f *figures, hooks *loadResult, quota int64, allowedOver int) {
	t.Helper()
	l := c.waitLanded(hooks.accepted, 3*time.Minute)
	missing := l.missing(hooks.accepted)
	st := c.stats()
	dup, over := paidTwiceAndOver(st)
	refused, longest := hookAnswers(hooks)
	f.add("hooks %d: refused %d, longest answer %s", len(hooks.attempts), refused, longest.Round(10*time.Millisecond))
	f.add("lost paths %d of %d acknowledged; paths paid twice %d; QuotaExceeded %d; quota used %d of %d",
		missing, len(hooks.accepted), dup, over, st.Quota.Used.URL, quota)
	if refused > 0 {
		t.Errorf("%d hooks were not answered 202; answers %v", refused, hooks.codes())
	}
	if longest > 10*time.Second {
		t.Errorf("the longest hook answer took %s, past GitHub's 10 s", longest)
	}
	if missing > 0 {
		t.Errorf("%d acknowledged paths never reached the API", missing)
	}
	if over > allowedOver {
		t.Errorf("%d calls answered QuotaExceeded, want at most %d", over, allowedOver)
	}
	if st.Quota.Used.URL > quota {
		t.Errorf("quota overspent at the API: %d used of %d", st.Quota.Used.URL, quota)
	}
}

// sentinelFailover is scenario 16: two replicas share a Redis found through
// three Sentinels; the primary is SIGKILLed mid-run and a Sentinel
// failover promotes the replica. Hooks keep being accepted (they do not
// touch Redis); the worker's quota gate waits for the new primary, and a
// mirror that finds its reservations gone re-syncs before granting.
func sentinelFailover(t *testing.T, run *runState, f *figures) {
	sz := redisHASize(run.size)
	ss := startSentinelSet(t, filepath.Join(run.logDir, "sentinel"))
	total := sz.warm + sz.down + sz.after
	urls := int(total.Seconds()) * sz.hooksPerSec * perUnit
	quota := int64(urls) * 2
	c := newCluster(t, run, "sentinel", clusterOpts{urlQuota: quota,
		redisYAML: fmt.Sprintf("sentinel: {master_name: %s, addrs: %s}", sentinelMaster, quoteList(ss.sentinels))})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	loadStart := time.Now()
	done := make(chan *loadResult, 1)
	go func() {
		done <- ld.run(ctx, loadOpts{tag: "sentinel", urls: urls, duration: total, workers: 2 * sz.hooksPerSec, only: viaBearer})
	}()
	<-time.After(time.Until(loadStart.Add(sz.warm)))
	before := ss.primaryAddr()
	ss.primary.kill()
	killedAt := time.Now()
	var after string
	promoted := waitFor(30*time.Second, func() bool {
		after = ss.primaryAddr()
		return after != "" && after != before
	})
	failover := time.Since(killedAt)
	hooks := <-done
	f.add("primary %s SIGKILLed; Sentinels promoted %s after %s", before, after, failover.Round(100*time.Millisecond))
	if !promoted {
		t.Error("the Sentinels did not promote the replica within 30 s")
	}
	// One QuotaExceeded may answer a batch granted from a mirror that lost
	// its reservations, before it re-synced; none should.
	haReport(t, c, f, hooks, quota, 1)
}

// redisClusterRun is scenario 17: two replicas share a Redis Cluster of
// three masters (each script's keys in one slot), under hooks at the
// scenario's rate with a quota of twice the load.
func redisClusterRun(t *testing.T, run *runState, f *figures) {
	sz := redisHASize(run.size)
	addrs := quotatest.RedisCluster(t)
	total := sz.warm + sz.down + sz.after
	urls := int(total.Seconds()) * sz.hooksPerSec * perUnit
	quota := int64(urls) * 2
	c := newCluster(t, run, "redis-cluster", clusterOpts{urlQuota: quota,
		redisYAML: fmt.Sprintf("cluster: {addrs: %s}", quoteList(addrs))})
	ld := newLoader(c)
	ctx := ctxFor(t, 5*time.Minute)
	hooks := ld.run(ctx, loadOpts{tag: "redis-cluster", urls: urls, duration: total, workers: 2 * sz.hooksPerSec, only: viaBearer})
	f.add("3 masters (redis-server --cluster-enabled yes, redis-cli --cluster create)")
	haReport(t, c, f, hooks, quota, 0)
}
