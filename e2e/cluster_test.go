package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/redis/go-redis/v9"
)

// sharedRedis is the machine's Redis; scenarios use it under a key prefix
// of their own and delete their keys afterwards.
const sharedRedis = "redis://127.0.0.1:6379/0"

// secrets are the run's credentials: random, so that finding one in a log
// means it leaked.
type secrets struct {
	AccessKeyID, AccessKeySecret                    string
	GenericToken, GenericHMAC, GitHubSecret, GitLab string
	OSSToken                                        string
}

func newSecrets() secrets {
	r := func(prefix string) string {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return prefix + hex.EncodeToString(b)
	}
	return secrets{AccessKeyID: r("e2eid"), AccessKeySecret: r("aks"), GenericToken: r("tok"),
		GenericHMAC: r("hmac"), GitHubSecret: r("gh"), GitLab: r("gl"), OSSToken: r("oss")}
}

func (s secrets) all() map[string]string {
	return map[string]string{"AccessKey secret": s.AccessKeySecret, "generic token": s.GenericToken,
		"generic HMAC secret": s.GenericHMAC, "GitHub secret": s.GitHubSecret, "GitLab token": s.GitLab, "OSS token": s.OSSToken}
}

// clusterOpts shape one scenario's processes.
type clusterOpts struct {
	replicas int
	urlQuota int64
	// redisURL is the Redis the replicas share (default sharedRedis).
	redisURL string
	logLevel string
	// worker overrides, YAML lines under worker:
	workerYAML string
	// dcdnQuota, when set, puts dcdnDomain on the emulated DCDN with this
	// daily URL quota, and in the config as a product: dcdn domain.
	dcdnQuota int64
	// esaQuota, when set, puts esaSite (SiteId esaSiteID) in the config
	// as a product: esa entry, its daily file purge quota this.
	esaQuota int64
	// esaTagQuota is the site's daily cachetag purge quota (default the
	// emulator's); dirQuota CDN's daily directory quota, which its tag
	// refreshes spend (default the emulator's).
	esaTagQuota, dirQuota int64
	// oss enables /hooks/oss (ossBucket's objects under public/ map to
	// static.example.com).
	oss bool
	// natsCluster, when set, is the NATS the replicas use (nats.url lists
	// its servers, nats.replicas 3) instead of a server of their own.
	natsCluster *natsCluster
	// redisYAML, when set, replaces the url line under redis: (Sentinel,
	// Cluster).
	redisYAML string
	// noWorker starts the replicas without the worker and the scheduler
	// (serve --worker=false --scheduler=false), so that jobs queue up; a
	// scenario clears it and restarts a replica to start its worker.
	noWorker bool
}

// esaSite is the ESA site of clusters with clusterOpts.esaQuota.
const (
	esaSite   = "esa.example.net"
	esaSiteID = 77
)

// dcdnDomain is the DCDN domain of clusters with clusterOpts.dcdnQuota.
const dcdnDomain = "dyn.example.org"

// cluster is one scenario's emulator, NATS and replicas.
type cluster struct {
	t        *testing.T
	run      *runState
	name     string
	opts     clusterOpts
	emu      *proc
	emuURL   string
	nats     *natsServer
	replicas []*replica
	prefix   string
	confPath string
}

// replica is one `cdnpurge serve` process, its webhook address and its
// admin (metrics) address.
type replica struct {
	name  string
	base  string
	port  int
	admin string
	proc  *proc
	// peakRSS is the largest VmHWM of every incarnation.
	peakRSS int64
}

const submitters = 4

func newCluster(t *testing.T, run *runState, name string, o clusterOpts) *cluster {
	t.Helper()
	if o.replicas == 0 {
		o.replicas = 2
	}
	if o.redisURL == "" {
		o.redisURL = sharedRedis
	}
	if o.logLevel == "" {
		o.logLevel = "info"
	}
	c := &cluster{t: t, run: run, name: name, opts: o,
		prefix: fmt.Sprintf("cdnpurge-e2e:%s:%s:", run.id, name)}
	c.startEmulator()
	if o.natsCluster == nil {
		c.nats = startNATS(t, run.logDir+"/"+name)
	}
	c.writeConfig()
	if o.redisURL == sharedRedis {
		// Registered before the replicas start, so that it runs after
		// they stopped (cleanups run last first): a key a replica wrote
		// after the deletion would stay for its TTL (the recent window
		// keeps a key per path for an hour).
		t.Cleanup(func() { deleteKeys(sharedRedis, c.prefix) })
	}
	for i := range o.replicas {
		r := &replica{name: fmt.Sprintf("replica-%c", 'a'+i), port: freePort(t)}
		r.base = fmt.Sprintf("http://127.0.0.1:%d", r.port)
		r.admin = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		c.replicas = append(c.replicas, r)
		c.startReplica(r)
	}
	return c
}

func (c *cluster) logDir() string {
	d := filepath.Join(c.run.logDir, c.name)
	_ = os.MkdirAll(d, 0o755)
	return d
}

func (c *cluster) startEmulator() {
	c.t.Helper()
	port := freePort(c.t)
	quota := c.opts.urlQuota
	if quota == 0 {
		quota = 10_000_000
	}
	s := c.run.secrets
	c.emu = startProc(c.t, c.logDir(), "emulator", baseEnv(), binPath, "emulator", "--log-format", "json",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--admin",
		"--access-key-id", s.AccessKeyID, "--access-key-secret", s.AccessKeySecret,
		"--domains", "example.com,*.example.com", "--url-quota", strconv.FormatInt(quota, 10),
		"--dcdn-domains", dcdnDomain, "--dcdn-url-quota", strconv.FormatInt(max(c.opts.dcdnQuota, 1), 10),
		"--esa-sites", fmt.Sprintf("%s=%d", esaSite, esaSiteID), "--esa-quota", esaQuotaFlag(c.opts),
		"--dir-quota", strconv.FormatInt(cmp.Or(c.opts.dirQuota, cdnemu.DefaultDirQuota), 10))
	c.emuURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(c.t, c.emu, c.emuURL+"/_emulator/stats", 15*time.Second)
}

// esaQuotaFlag is the emulator's --esa-quota for o.
func esaQuotaFlag(o clusterOpts) string {
	q := "file=" + strconv.FormatInt(max(o.esaQuota, 1), 10)
	if o.esaTagQuota > 0 {
		q += ",cachetag=" + strconv.FormatInt(o.esaTagQuota, 10)
	}
	return q
}

func (c *cluster) writeConfig() {
	c.t.Helper()
	dcdnEntry := ""
	if c.opts.dcdnQuota > 0 {
		dcdnEntry = fmt.Sprintf(`, {name: %q, product: dcdn}`, dcdnDomain)
	}
	if c.opts.esaQuota > 0 {
		dcdnEntry += fmt.Sprintf(`, {name: %q, product: esa, site_id: %d}`, esaSite, esaSiteID)
	}
	ossRules := ""
	if c.opts.oss {
		ossRules = fmt.Sprintf(`  oss_rules:
    - name: oss-static
      bucket: %s
      prefix: public/
      strip_prefix: public/
      url_template: "https://static.example.com/oss/{key}"
`, ossBucket)
	}
	natsURL, natsExtra := "", ""
	if c.opts.natsCluster != nil {
		natsURL, natsExtra = c.opts.natsCluster.URLs(), "\n  replicas: 3"
	} else {
		natsURL = c.nats.URL()
	}
	redisLine := fmt.Sprintf("url: %q", c.opts.redisURL)
	if c.opts.redisYAML != "" {
		redisLine = c.opts.redisYAML
	}
	conf := fmt.Sprintf(`nats:
  url: %q
  publish_timeout: 2s%s
redis:
  %s
  key_prefix: %q
cdn:
  endpoint: %q
  dcdn_endpoint: %q
  esa_endpoint: %q
  # The harness's emulator enforces no per-minute limit; pacing would only
  # slow the load scenarios down.
  domain_urls_per_minute: -1
  dcdn_domain_urls_per_minute: -1
  retry:
    max_total: 20s
domains: ["example.com", "*.example.com"%s]
webhooks:
  body_limit: 65536
  rules:
    - name: site
      repository: acme/site
      branch: main
      files: "public/**"
      strip_prefix: public/
      url_template: "https://static.example.com/{path}"
%sworker:
  linger: 200ms
  ack_wait: 3s
  defer_max: 1s
  retry_delay: 2s
  submitters: %d
  quota_poll: 200ms
  shutdown_grace: 3s
%s
quota:
  sync_interval: 2s
  reservation_ttl: 20s
log:
  format: json
  level: %s
`, natsURL, natsExtra, redisLine, c.prefix, c.emuURL, c.emuURL, c.emuURL, dcdnEntry, ossRules, submitters, c.opts.workerYAML, c.opts.logLevel)
	c.confPath = filepath.Join(c.logDir(), "cdnpurge.yaml")
	if err := os.WriteFile(c.confPath, []byte(conf), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) replicaEnv(r *replica) []string {
	s := c.run.secrets
	var oss []string
	if c.opts.oss {
		oss = append(oss, "CDNPURGE_WEBHOOKS_OSS_TOKEN="+s.OSSToken)
	}
	return append(append(baseEnv(), oss...),
		"ALIBABA_CLOUD_ACCESS_KEY_ID="+s.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+s.AccessKeySecret,
		"CDNPURGE_WEBHOOKS_LISTEN="+strings.TrimPrefix(r.base, "http://"),
		"CDNPURGE_ADMIN_LISTEN="+strings.TrimPrefix(r.admin, "http://"),
		"CDNPURGE_WEBHOOKS_GENERIC_TOKEN="+s.GenericToken,
		"CDNPURGE_WEBHOOKS_GENERIC_HMAC_SECRET="+s.GenericHMAC,
		"CDNPURGE_WEBHOOKS_GITHUB_SECRET="+s.GitHubSecret,
		"CDNPURGE_WEBHOOKS_GITLAB_TOKEN="+s.GitLab,
		// Where serve leaves its state file for the CLI (it does with an
		// external NATS too): one of the replica's own, not data/nats
		// under the package directory shared by every replica.
		"CDNPURGE_NATS_EMBEDDED_STORE_DIR="+filepath.Join(c.logDir(), r.name+"-data"),
	)
}

// startReplica starts (or restarts) r and waits for /readyz.
func (c *cluster) startReplica(r *replica) {
	c.t.Helper()
	c.launchReplica(r)
	waitHTTP(c.t, r.proc, r.base+"/readyz", 30*time.Second)
}

// launchReplica starts r without waiting for it.
func (c *cluster) launchReplica(r *replica) {
	c.t.Helper()
	args := []string{"--config", c.confPath, "--log-format", "json", "serve"}
	if c.opts.noWorker {
		args = append(args, "--worker=false", "--scheduler=false")
	}
	r.proc = startProc(c.t, c.logDir(), r.name, c.replicaEnv(r), binPath, args...)
}

// killReplica SIGKILLs r, keeping its peak RSS.
func (c *cluster) killReplica(r *replica) {
	r.proc.kill()
	r.peakRSS = max(r.peakRSS, r.proc.sampleRSS())
}

// peakRSS returns the largest VmHWM of r so far, this incarnation included.
func (r *replica) peak() int64 { return max(r.peakRSS, r.proc.sampleRSS()) }

// --- the emulator's admin API ---------------------------------------------

type emuStats struct {
	Actions map[string]struct {
		Calls        int            `json:"calls"`
		Accepted     int            `json:"accepted"`
		Codes        map[string]int `json:"codes"`
		MaxPerSecond int            `json:"max_per_second"`
	} `json:"actions"`
	Paths map[string]struct {
		Accepted, Unique, Duplicates int
	} `json:"paths"`
	PerSecond []struct {
		Unix    int64 `json:"unix"`
		Calls   int   `json:"calls"`
		Refused int   `json:"refused"`
	} `json:"per_second"`
	Quota struct {
		Total, Used, Remaining struct{ URL int64 }
	} `json:"quota"`
	DCDNQuota struct {
		Total, Used, Remaining struct{ URL int64 }
	} `json:"dcdn_quota"`
}

func (c *cluster) stats() emuStats {
	c.t.Helper()
	var st emuStats
	body := c.emuGet("/_emulator/stats")
	if err := json.Unmarshal(body, &st); err != nil {
		c.t.Fatalf("emulator stats: %v", err)
	}
	return st
}

func (c *cluster) emuGet(path string) []byte {
	c.t.Helper()
	resp, err := http.Get(c.emuURL + path)
	if err != nil {
		c.t.Fatalf("emulator %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("emulator %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}

func (c *cluster) emuPost(path, body string) {
	c.t.Helper()
	resp, err := http.Post(c.emuURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		c.t.Fatalf("emulator %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("emulator %s: %d %s", path, resp.StatusCode, b)
	}
}

// landed is every path accepted refresh calls submitted, with the time
// of the first call that carried it.
type landed struct {
	first    map[string]time.Time // path without scheme -> first call
	accepted int
}

func (c *cluster) landed() landed { return c.landedOn("RefreshObjectCaches") }

// landedOn is what the emulator accepted on one action.
func (c *cluster) landedOn(action string) landed {
	c.t.Helper()
	body := c.emuGet("/_emulator/paths?action=" + action)
	l := landed{first: map[string]time.Time{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ts, path, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		ns, _ := strconv.ParseInt(ts, 10, 64)
		l.accepted++
		path = stripScheme(path)
		if _, seen := l.first[path]; !seen {
			l.first[path] = time.Unix(0, ns)
		}
	}
	return l
}

func stripScheme(p string) string {
	if _, rest, ok := strings.Cut(p, "://"); ok {
		return rest
	}
	return p
}

// missing returns how many of want did not land.
func (l landed) missing(want map[string]bool) int {
	n := 0
	for p := range want {
		if _, ok := l.first[p]; !ok {
			n++
		}
	}
	return n
}

// waitLanded waits until every path of want landed, and returns what did.
func (c *cluster) waitLanded(want map[string]bool, timeout time.Duration) landed {
	c.t.Helper()
	var l landed
	waitFor(timeout, func() bool {
		if st := c.stats(); st.Paths["RefreshObjectCaches"].Unique < len(want) {
			time.Sleep(250 * time.Millisecond)
			return false
		}
		l = c.landed()
		return l.missing(want) == 0
	})
	if l.first == nil {
		l = c.landed()
	}
	return l
}

// --- /metrics ---------------------------------------------------------------

// metric sums the samples of name whose labels contain every match
// (`key="value"` strings) over the replicas that answer, scraped on their
// admin listeners.
func (c *cluster) metric(name string, match ...string) float64 {
	sum := 0.0
	for _, r := range c.replicas {
		sum += scrapeMetric(r.admin+"/metrics", name, match...)
	}
	return sum
}

func scrapeMetric(url, name string, match ...string) float64 {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && !math.IsNaN(v) {
			sum += v
		}
	}
	return sum
}

// --- Redis --------------------------------------------------------------------

// deleteKeys removes every key under prefix.
func deleteKeys(url, prefix string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A scenario leaves tens of thousands of keys (one per path sent,
	// for the recent window): a SCAN of 500 a round trip over a keyspace
	// other runs filled outlasted the old 10 s deadline, and the keys
	// piled up for an hour, slowing every SCAN of the machine's Redis.
	iter := rdb.Scan(ctx, 0, prefix+"*", 10_000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		rdb.Unlink(ctx, keys[:n]...)
		keys = keys[n:]
	}
}

// redisServer is a redis-server of the scenario's own, on a free port, so
// that restarting it never touches the machine's Redis.
type redisServer struct {
	t      *testing.T
	logDir string
	bin    string
	port   int
	proc   *proc
}

func startRedis(t *testing.T, logDir string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: the Redis restart scenario needs a Redis of its own to restart")
	}
	r := &redisServer{t: t, logDir: logDir, bin: bin, port: freePort(t)}
	r.start()
	return r
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	_ = os.MkdirAll(r.logDir, 0o755)
	r.proc = startProc(r.t, r.logDir, "redis", baseEnv(), r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", r.t.TempDir())
	waitTCP(r.t, r.proc, fmt.Sprintf("127.0.0.1:%d", r.port), 10*time.Second)
}

// postGeneric sends body to the generic hook of replica i (round robin)
// with the run's bearer token and requires a 202.
func (c *cluster) postGeneric(t *testing.T, client *http.Client, i int, body []byte) {
	t.Helper()
	r := c.replicas[i%len(c.replicas)]
	req := newJSONRequest(t.Context(), r.base+"/hooks/generic", body)
	req.Header.Set("Authorization", "Bearer "+c.run.secrets.GenericToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("hook %d: %v", i, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("hook %d: %d %s", i, resp.StatusCode, b)
	}
}
