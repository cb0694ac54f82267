package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// powerCase is one run of the power-loss scenario.
type powerCase struct {
	name    string
	setting string // nats.embedded.sync_interval
	hooks   int
	clean   bool // stop with SIGTERM before the power cut, instead of SIGKILL mid-flow
}

// powerResult is what one case measured.
type powerResult struct {
	acked, survived, lost int
	files, dropped        int
	flushes               int
	restartErrors         []string
}

// powerLoss is scenario 19: hooks flow into a hooks-only serve whose
// embedded store lives on a filesystem that keeps only what was flushed
// (lossyFS); the process is killed, the unflushed data dropped (a power
// cut) and serve started again on what survived. It reports, for the
// default sync setting and a lazy one, how many acknowledged jobs
// survived; and the same after a clean stop followed by a power cut.
func powerLoss(t *testing.T, run *runState, sz sizes, f *figures) {
	cases := []powerCase{
		{name: "default", setting: "", hooks: sz.powerHooks},
		{name: "lazy 2m", setting: "2m", hooks: sz.powerHooks},
		{name: "default, clean stop then power cut", setting: "", hooks: sz.powerHooks / 4, clean: true},
	}
	for _, c := range cases {
		r := runPowerCase(t, run, c)
		f.add("%s: %d acknowledged, %d survived, %d lost (%d of %d files cut back, %d flushes)", c.name, r.acked, r.survived, r.lost, r.dropped, r.files, r.flushes)
		if len(r.restartErrors) > 0 {
			f.add("%s restart logged ERROR: %s", c.name, strings.Join(r.restartErrors, ", "))
		}
		if c.setting == "" && (r.lost > 0 || r.acked < c.hooks) {
			t.Errorf("%s: %d of %d acknowledged jobs lost (want 0 of at least %d)", c.name, r.lost, r.acked, c.hooks)
		}
		// With the default nothing may be lost, the control bucket (the
		// operator's pauses and cancels, the replicas' heartbeats)
		// included: it lost its files to every 10,000-hook power cut
		// before its writes were flushed with the jobs'.
		if c.setting == "" && len(r.restartErrors) > 0 {
			t.Errorf("%s: the restart logged ERROR: %s", c.name, strings.Join(r.restartErrors, ", "))
		}
		if c.setting != "" && r.lost > 0 && len(r.restartErrors) == 0 {
			t.Errorf("%s: %d acknowledged jobs lost and the restart logged no ERROR about it", c.name, r.lost)
		}
	}
}

func runPowerCase(t *testing.T, run *runState, c powerCase) powerResult {
	base := t.TempDir()
	under, mnt := filepath.Join(base, "disk"), filepath.Join(base, "mnt")
	for _, d := range []string{under, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lfs, err := mountLossy(under, mnt)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount the lossy FUSE filesystem (needs /dev/fuse and root): %v", err)
		}
		t.Skipf("power-loss scenario needs a FUSE mount (/dev/fuse and root): %v", err)
	}
	t.Cleanup(func() { _ = lfs.unmount() })
	logDir := filepath.Join(run.logDir, "power-loss", strings.NewReplacer(" ", "-", ",", "").Replace(c.name))
	_ = os.MkdirAll(logDir, 0o755)
	token := run.secrets.GenericToken
	natsPort := freePort(t)
	env := func(store string) ([]string, string) {
		listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
		return append(baseEnv(),
			"CDNPURGE_WEBHOOKS_LISTEN="+listen,
			"CDNPURGE_ADMIN_LISTEN=127.0.0.1:"+strconv.Itoa(freePort(t)),
			"CDNPURGE_NATS_EMBEDDED_PORT="+strconv.Itoa(natsPort),
			"CDNPURGE_NATS_EMBEDDED_STORE_DIR="+store,
			"CDNPURGE_NATS_EMBEDDED_SYNC_INTERVAL="+c.setting,
			"CDNPURGE_WEBHOOKS_GENERIC_TOKEN="+token), "http://" + listen
	}
	args := []string{"--log-format", "json", "serve", "--emulator", "--worker=false", "--scheduler=false"}

	e, url := env(mnt)
	p := startProc(t, logDir, "serve", e, binPath, args...)
	waitHTTP(t, p, url+"/readyz", 30*time.Second)
	acked := sendUntil(t, url, token, run.id+"-"+strconv.Itoa(natsPort), c.hooks, func() {
		if !c.clean {
			p.kill() // mid-flow: hooks are still being sent
		}
	})
	if c.clean {
		p.stop(30 * time.Second)
	}
	var r powerResult
	r.acked = len(acked)
	lfs.mu.Lock()
	r.flushes = lfs.flushes
	lfs.mu.Unlock()
	if r.files, r.dropped, err = lfs.powerOff(); err != nil {
		t.Fatalf("power off: %v", err)
	}

	// Restart on what survived, straight on the underlying directory.
	e, url = env(under)
	p2 := startProc(t, logDir, "serve-restarted", e, binPath, args...)
	waitHTTP(t, p2, url+"/healthz", 30*time.Second)
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort))
	if err != nil {
		t.Fatalf("connect to the restarted serve's NATS: %v", err)
	}
	js, _ := jetstream.New(nc)
	stored := jobstest.StoredJobIDs(t, js, queue.DefaultStreamName)
	nc.Close()
	for id := range acked {
		if stored[id] {
			r.survived++
		} else {
			r.lost++
		}
	}
	p2.stop(10 * time.Second)
	if b, err := os.ReadFile(p2.logPath); err == nil {
		for l := range strings.Lines(string(b)) {
			var line struct {
				Level, Msg, Stream string
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Level == "ERROR" {
				r.restartErrors = append(r.restartErrors, line.Msg+" ("+line.Stream+")")
			}
		}
	}
	return r
}

// sendUntil posts generic hooks from 16 senders, one unique path each,
// until n were acknowledged; then it calls cut while the senders are still
// sending, and returns the IDs of the acknowledged jobs.
func sendUntil(t *testing.T, base, token, tag string, n int, cut func()) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		seq   int
		once  sync.Once
		wg    sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				seq++
				i := seq
				mu.Unlock()
				body := fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/power-%s-%d.js"]}}`, tag, i)
				req := newJSONRequest(ctx, base+"/hooks/generic", body)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						done := len(acked) >= n
						mu.Unlock()
						if done {
							return // the process is gone
						}
					}
					continue
				}
				var out struct {
					Jobs []struct {
						ID string `json:"id"`
					} `json:"jobs"`
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
					continue
				}
				mu.Lock()
				for _, j := range out.Jobs {
					acked[j.ID] = true
				}
				reached := len(acked) >= n
				mu.Unlock()
				if reached {
					once.Do(func() {
						cut()
						cancel()
					})
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return acked
}
