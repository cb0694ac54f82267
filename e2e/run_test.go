package e2e

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// sizes are the figures of one -e2e.size.
type sizes struct {
	steadyURLs int
	steadyDur  time.Duration
	kills      int

	// NATS is stopped once the load is acknowledged, at least natsWarm
	// after it began, and stays down until hooks were answered 503, at
	// least natsDown.
	natsWarm, natsDown time.Duration
	natsRate           int // URLs per second of webhook load

	redisURLs  int
	outage     time.Duration
	outageURLs int
	quotaURLs  int

	badRequests int
	goodURLs    int
	badDur      time.Duration // the good load and the bad requests are spread over it

	floodBodies int // concurrent unauthenticated 1 MiB bodies
	replays     int

	offlineURLs int           // hooks while a domain is stopped
	offlineHold time.Duration // the stop lasts at least this long after the others landed
	lostURLs    int           // load from the deletion of the streams on
	stormURLs   int           // burst queued while quota syncs fail (5 x the quota)
	stormHold   time.Duration // the failing syncs last this long after the quota ran out
	dcdnJobs    int           // mixed CDN and DCDN hooks, 10 paths each
	powerHooks  int           // acknowledged hooks before each power cut (a quarter before the clean stop)

	// parallel runs the scenarios side by side (at most -parallel at once,
	// by default scenariosPerCPU x GOMAXPROCS: TestMain): each has
	// processes of its own. The short
	// size only: the figures of the longer ones (throughput, latency,
	// calls per second) are measurements and want the machine to
	// themselves.
	parallel bool
}

var sizeTable = map[string]sizes{
	"short": {steadyURLs: 10_000, steadyDur: 4 * time.Second, kills: 2,
		natsWarm: 500 * time.Millisecond, natsDown: time.Second, natsRate: 1000,
		redisURLs: 10_000, outage: 15 * time.Second, outageURLs: 5_000, quotaURLs: 10_000,
		badRequests: 600, goodURLs: 3_000, badDur: 3 * time.Second, floodBodies: 300, replays: 20,
		offlineURLs: 3_000, offlineHold: 3 * time.Second, lostURLs: 2_000, stormURLs: 5_000, stormHold: 5 * time.Second, dcdnJobs: 200, powerHooks: 1_000,
		parallel: true},
	"full": {steadyURLs: 200_000, steadyDur: 40 * time.Second, kills: 5,
		natsWarm: 3 * time.Second, natsDown: 10 * time.Second, natsRate: 2000,
		redisURLs: 30_000, outage: 60 * time.Second, outageURLs: 20_000, quotaURLs: 30_000,
		badRequests: 3_000, goodURLs: 20_000, badDur: 5 * time.Second, floodBodies: 1_000, replays: 100,
		offlineURLs: 20_000, offlineHold: 10 * time.Second, lostURLs: 12_000, stormURLs: 20_000, stormHold: 10 * time.Second, dcdnJobs: 2_000, powerHooks: 10_000},
	"soak": {steadyURLs: 1_000_000, steadyDur: 180 * time.Second, kills: 10,
		natsWarm: 5 * time.Second, natsDown: 30 * time.Second, natsRate: 3000,
		redisURLs: 100_000, outage: 120 * time.Second, outageURLs: 50_000, quotaURLs: 100_000,
		badRequests: 20_000, goodURLs: 100_000, badDur: 5 * time.Second, floodBodies: 1_000, replays: 500,
		offlineURLs: 50_000, offlineHold: 30 * time.Second, lostURLs: 30_000, stormURLs: 50_000, stormHold: 30 * time.Second, dcdnJobs: 5_000, powerHooks: 40_000},
}

// runState is what the scenarios of one run share: credentials, the log
// directory every process writes to, and the table.
type runState struct {
	id       string
	size     string
	parallel bool
	logDir   string
	secrets  secrets

	mu   sync.Mutex
	rows []row
}

type row struct {
	name    string
	result  string // PASS, FAIL or SKIP
	figures string
}

func (r *runState) add(name string, pass bool, figures string) {
	res := "PASS"
	if !pass {
		res = "FAIL"
	}
	r.addRow(name, res, figures)
}

func (r *runState) addRow(name, result, figures string) {
	r.mu.Lock()
	r.rows = append(r.rows, row{name, result, figures})
	r.mu.Unlock()
}

func (r *runState) table() string {
	var b strings.Builder
	nats := "embedded nats-server " + embeddedNATSVersion() + " in a helper process"
	if systemNATSUsable() {
		nats = natsVersion
	}
	fmt.Fprintf(&b, "cdnpurge e2e, size %s, %s, %d CPUs, %s; figures from the emulator and the processes\n",
		r.size, time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), nats)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tresult\tfigures")
	// By number: parallel scenarios end in any order.
	r.mu.Lock()
	rows := slices.Clone(r.rows)
	r.mu.Unlock()
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(rowNumber(a.name), rowNumber(b.name)) })
	for _, x := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\n", x.name, x.result, x.figures)
	}
	w.Flush()
	return b.String()
}

// rowNumber is the number a row's name starts with.
func rowNumber(name string) int {
	n, _ := strconv.Atoi(strings.Fields(name)[0])
	return n
}

// scenario runs one row of the table as a subtest; fn returns the figures
// (built as it goes, so a failing scenario still reports them).
func (r *runState) scenario(t *testing.T, name string, long bool, fn func(t *testing.T, fig *figures)) {
	t.Run(name, func(t *testing.T) {
		if long && (r.size == "short" || testing.Short()) {
			r.addRow(name, "SKIP", "long scenario (short size; run make e2e)")
			t.Skip("long scenario: run with -e2e.size=full (make e2e)")
		}
		if r.parallel {
			t.Parallel()
		}
		fig := &figures{}
		defer func() {
			if t.Skipped() {
				r.addRow(name, "SKIP", fig.String())
				return
			}
			r.add(name, !t.Failed(), fig.String())
		}()
		fn(t, fig)
	})
}

// figures collects "name value" pairs in order.
type figures struct{ parts []string }

func (f *figures) add(format string, args ...any) {
	f.parts = append(f.parts, fmt.Sprintf(format, args...))
}
func (f *figures) String() string { return strings.Join(f.parts, "; ") }

func TestE2E(t *testing.T) {
	sz, ok := sizeTable[*sizeFlag]
	if !ok {
		t.Fatalf("-e2e.size=%q: want short, full or soak", *sizeFlag)
	}
	run := &runState{id: strconv.FormatInt(time.Now().UnixNano(), 36), size: *sizeFlag, parallel: sz.parallel,
		logDir: t.TempDir(), secrets: newSecrets()}
	start := time.Now()
	// Cleanups run once every scenario ended, parallel ones included, and
	// in reverse: the secrets scan first (it reads every log the run
	// wrote), then the table.
	t.Cleanup(func() {
		t.Logf("\n%s(run took %s)", run.table(), time.Since(start).Round(time.Second))
	})
	t.Cleanup(func() { secretsInLogs(t, run) })

	// Longest first at the short size (15, 3, 16 and 17 spend 15-26 s
	// waiting for failovers and restarts, the others under 11 s): side
	// by side, the short ones fill in around them, where the long ones
	// started last were the run's tail. The table is sorted by number.
	run.scenario(t, "15 NATS cluster leader loss", false, func(t *testing.T, f *figures) { natsLeaderLoss(t, run, f) })
	run.scenario(t, "3 NATS restart", false, func(t *testing.T, f *figures) { natsRestart(t, run, sz, f) })
	run.scenario(t, "16 Redis Sentinel failover", false, func(t *testing.T, f *figures) { sentinelFailover(t, run, f) })
	run.scenario(t, "17 Redis Cluster", false, func(t *testing.T, f *figures) { redisClusterRun(t, run, f) })
	run.scenario(t, "11 lost JetStream state", false, func(t *testing.T, f *figures) { lostStream(t, run, sz, f) })
	run.scenario(t, "21 backlog coalescing", false, func(t *testing.T, f *figures) { backlogCoalescing(t, run, f) })
	run.scenario(t, "23 cache tags", false, func(t *testing.T, f *figures) { cacheTags(t, run, sz, f) })
	run.scenario(t, "19 power loss", false, func(t *testing.T, f *figures) { powerLoss(t, run, sz, f) })
	run.scenario(t, "7 bad input", false, func(t *testing.T, f *figures) { badInput(t, run, sz, f) })
	run.scenario(t, "2 crash (during 1)", false, func(t *testing.T, f *figures) { steadyAndCrash(t, run, sz, f) })
	run.scenario(t, "9 hostile sources", false, func(t *testing.T, f *figures) { hostile(t, run, sz, f) })
	run.scenario(t, "22 ESA beside CDN", false, func(t *testing.T, f *figures) { esaBesideCDN(t, run, sz, f) })
	run.scenario(t, "14 DCDN beside CDN", false, func(t *testing.T, f *figures) { dcdnBesideCDN(t, run, sz, f) })
	run.scenario(t, "18 OSS burst", false, func(t *testing.T, f *figures) { ossBurst(t, run, f) })
	run.scenario(t, "20 backlog priority", false, func(t *testing.T, f *figures) { backlogPriority(t, run, f) })
	run.scenario(t, "13 second serve", false, func(t *testing.T, f *figures) { secondServe(t, run, f) })
	run.scenario(t, "4 Redis restart", true, func(t *testing.T, f *figures) { redisRestart(t, run, sz, f) })
	run.scenario(t, "5 API outage", true, func(t *testing.T, f *figures) { apiOutage(t, run, sz, f) })
	run.scenario(t, "6 quota day", true, func(t *testing.T, f *figures) { quotaDay(t, run, sz, f) })
	run.scenario(t, "10 offline domain", true, func(t *testing.T, f *figures) { offlineDomain(t, run, sz, f) })
	run.scenario(t, "12 quota sync storm", true, func(t *testing.T, f *figures) { syncStorm(t, run, sz, f) })
}

// secretsInLogs is row 8: it scans every log the run's processes wrote,
// after every other scenario ended.
func secretsInLogs(t *testing.T, run *runState) {
	const name = "8 secrets in logs"
	ran := false
	run.mu.Lock()
	for _, x := range run.rows {
		ran = ran || x.result != "SKIP"
	}
	run.mu.Unlock()
	if !ran {
		run.addRow(name, "SKIP", "no scenario ran")
		return
	}
	f := &figures{}
	pass := true
	fail := func(format string, args ...any) {
		pass = false
		t.Errorf(name+": "+format, args...)
	}
	defer func() { run.add(name, pass, f.String()) }()
	var files, bytes int
	found := map[string][]string{}
	err := filepath.Walk(run.logDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".log") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		bytes += len(b)
		for what, s := range run.secrets.all() {
			if strings.Contains(string(b), s) {
				rel, _ := filepath.Rel(run.logDir, path)
				found[what] = append(found[what], rel)
			}
		}
		return nil
	})
	if err != nil {
		fail("read the logs: %v", err)
		return
	}
	f.add("%d log files, %.1f MB scanned for %d secrets", files, float64(bytes)/1e6, len(run.secrets.all()))
	if files == 0 || bytes == 0 {
		fail("no logs to scan")
	}
	var leaks []string
	for what, in := range found {
		sort.Strings(in)
		leaks = append(leaks, fmt.Sprintf("%s in %s", what, strings.Join(in, ", ")))
	}
	sort.Strings(leaks)
	f.add("found: %d", len(leaks))
	for _, l := range leaks {
		fail("secret leaked: %s", l)
	}
}
