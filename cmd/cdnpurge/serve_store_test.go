package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// A serve started on a store whose work stream cannot be restored (its
// metadata empty, as a power cut leaves a lazily flushed store) says so:
// an ERROR naming the stream, the re-create counted, /readyz and `jobs
// list` saying that history was lost since the last start.
func TestServeRestartNamesTheStreamItLost(t *testing.T) {
	t.Parallel()
	rs := startServe(t, nil)
	for i := range 3 {
		if code, body := rs.hook(t, "https://example.com/before-loss-"+string(rune('a'+i))+".html"); code != http.StatusAccepted {
			t.Fatalf("hook: %d %s", code, body)
		}
	}
	if err := rs.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	b, err := embedded.Survey(rs.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := b.Marks["CDNPURGE"]; !ok || m.LastSeq < 3 {
		t.Fatalf("marks after a clean stop: %+v, want CDNPURGE at sequence 3 or later", b.Marks)
	}
	if b.Unclean != nil {
		t.Fatalf("the store records a serve still running after a clean stop: %+v", b.Unclean)
	}
	meta := filepath.Join(embedded.StreamDir(rs.storeDir, "CDNPURGE"), "meta.inf")
	if err := os.Truncate(meta, 0); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	stop := startServeWith(t, rs.env, []string{"--log-format", "json", "serve", "--emulator"}, io.Discard, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restarted serve's log:\n%s", logs.String())
		}
	})
	waitReady(t, rs.base, "")
	resp, err := http.Get(rs.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"history":"lost since last start"`) {
		t.Errorf("/readyz does not say the work stream's history was lost: %s", body)
	}
	jobstest.Eventually(t, "the lost stream counted", 10*time.Second, func() bool {
		return strings.Contains(scrape(t, rs.admin+"/metrics"), `cdnpurge_jetstream_recreated_total{kind="stream"} 1`)
	})
	_, _, stderr := runCLIWith(t, rs.env, "", "jobs", "list")
	if !strings.Contains(stderr, "history lost since serve started") || !strings.Contains(stderr, "stream CDNPURGE") {
		t.Errorf("jobs list does not say history was lost:\n%s", stderr)
	}
	if err := stop(); err != nil {
		t.Fatalf("restarted serve: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, `"level":"ERROR","msg":"jetstream stream lost in the restart`) || !strings.Contains(l, `"stream":"CDNPURGE"`) {
		t.Errorf("no ERROR line naming the lost work stream")
	}
}

// `config check` names the risk of a lazy sync setting in one WARN line,
// from the same list serve logs at start; the default names none.
func TestConfigCheckWarnsOfLazySync(t *testing.T) {
	t.Parallel()
	base := map[string]string{"CDNPURGE_CDN_EMULATOR": "true", "CDNPURGE_DOMAINS": "example.com"}
	for setting, warn := range map[string]bool{"": false, "always": false, "2m": true} {
		env := maps.Clone(base)
		env["CDNPURGE_NATS_EMBEDDED_SYNC_INTERVAL"] = setting
		code, _, stderr := runCLIWith(t, env, "", "config", "check")
		if code != 0 {
			t.Fatalf("%q: code %d: %s", setting, code, stderr)
		}
		lines := strings.Count(stderr, "WARN ")
		if warn && (lines != 1 || !strings.Contains(stderr, "WARN nats.embedded.sync_interval is 2m0s (lazy flush): a host crash")) {
			t.Errorf("%q: want one WARN line naming what a host crash loses:\n%s", setting, stderr)
		}
		if !warn && lines != 0 {
			t.Errorf("%q: WARN for a safe setting:\n%s", setting, stderr)
		}
	}
}

// The embedded store's disk fills up under a hooks-only serve, then space
// comes back: nothing acknowledged is lost, /readyz answers 503 naming the
// store while it cannot write, hooks are refused at once meanwhile, and
// intake resumes by itself, without a restart.
func TestServeRidesThroughAFullDisk(t *testing.T) {
	t.Parallel()
	// Large enough at start for the streams' byte limits (JetStream
	// sizes its store limit from the free space then), small afterwards.
	dir := jobstest.MountTmpfs(t, "4g")
	env := serveTestEnv(t, map[string]string{"CDNPURGE_WEBHOOKS_GENERIC_TOKEN": faultToken,
		"CDNPURGE_NATS_EMBEDDED_STORE_DIR": dir, "CDNPURGE_NATS_PUBLISH_TIMEOUT": "2s"})
	base := "http://" + env["CDNPURGE_WEBHOOKS_LISTEN"]
	logs := &syncBuffer{}
	stop := startServeWith(t, env, []string{"--log-format", "json", "serve", "--emulator", "--worker=false", "--scheduler=false"}, io.Discard, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", logs.String())
		}
	})
	waitReady(t, base, "")
	acked := map[string]bool{}
	hook := func(i int) (int, string) {
		code, body := postGenericHook(base, faultToken, fmt.Sprintf(`{"kind":"refresh","refresh":{"paths":["https://example.com/full-%d.html"]}}`, i))
		var out struct {
			Jobs []struct{ ID string } `json:"jobs"`
		}
		if code == http.StatusAccepted && json.Unmarshal([]byte(body), &out) == nil {
			for _, j := range out.Jobs {
				acked[j.ID] = true
			}
		}
		return code, body
	}
	for i := range 20 {
		if code, body := hook(i); code != http.StatusAccepted {
			t.Fatalf("hook before the disk filled: %d %s", code, body)
		}
	}
	jobstest.ResizeTmpfs(t, dir, "32m")
	filler := jobstest.FillDisk(t, dir)
	refused := false
	for i := 20; i < 5000 && !refused; i++ {
		code, _ := hook(i)
		refused = code != http.StatusAccepted
	}
	if !refused {
		t.Fatal("5,000 hooks accepted on a full 32 MiB disk")
	}
	jobstest.Eventually(t, "/readyz 503", 10*time.Second, func() bool { return readyStatus(base) == http.StatusServiceUnavailable })
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"store":"failing"`) {
		t.Errorf("/readyz while the disk is full does not name the store: %s", body)
	}
	if l := logs.String(); !strings.Contains(l, `"check":"store","error":"job store cannot write (stream CDNPURGE: no space left on device)"`) {
		t.Errorf("the log does not say why the store check fails")
	}
	start := time.Now()
	code, hb := hook(100_000)
	took := time.Since(start)
	if code != http.StatusServiceUnavailable || !strings.Contains(hb, "store_unwritable") {
		t.Errorf("hook while the store cannot write: %d %s", code, hb)
	}
	t.Logf("a hook while the store could not write was answered in %s: %s", took, hb)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	jobstest.Eventually(t, "/readyz 200 once space is back", 20*time.Second, func() bool { return readyStatus(base) == http.StatusOK })
	accepted := 0
	for i := range 48 {
		if code, _ := hook(200_000 + i); code == http.StatusAccepted {
			accepted++
		}
	}
	nc, err := nats.Connect("nats://127.0.0.1:" + env["CDNPURGE_NATS_EMBEDDED_PORT"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stored := jobstest.StoredJobIDs(t, js, "CDNPURGE")
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
		}
	}
	t.Logf("%d acknowledged, %d lost; %d of 48 accepted after the space came back", len(acked), lost, accepted)
	if lost > 0 || accepted < 40 {
		t.Errorf("%d of %d acknowledged jobs lost, %d of 48 hooks accepted after the space came back (want 0 lost, at least 40 accepted)", lost, len(acked), accepted)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// A serve that did not stop cleanly with a lazy flush may have lost what
// its streams stored since their last mark, and a stream whose files
// survived while its messages did not looks like one never used: the
// restart says so with an ERROR. With the default (group commit) an
// unclean stop loses nothing acknowledged, and the restart says nothing.
func TestServeRestartAfterAnUncleanLazyStopSaysWhatMayBeLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		setting string
		want    bool
	}{{"2m", true}, {"", false}} {
		rs := startServe(t, map[string]string{"CDNPURGE_NATS_EMBEDDED_SYNC_INTERVAL": tc.setting})
		if code, body := rs.hook(t, "https://example.com/unclean.html"); code != http.StatusAccepted {
			t.Fatalf("hook: %d %s", code, body)
		}
		if err := rs.stop(); err != nil {
			t.Fatalf("serve: %v", err)
		}
		// A crash leaves the record of the running serve in place.
		if err := embedded.MarkRunning(rs.storeDir, tc.setting); err != nil {
			t.Fatal(err)
		}
		logs := &syncBuffer{}
		stop := startServeWith(t, rs.env, []string{"--log-format", "json", "serve", "--emulator"}, io.Discard, logs)
		waitReady(t, rs.base, "")
		// The restart's ERROR comes before it is ready.
		_ = stop()
		got := strings.Contains(logs.String(), `"level":"ERROR","msg":"jetstream stream lost in the restart`) &&
			strings.Contains(logs.String(), "did not stop cleanly")
		if got != tc.want {
			t.Errorf("sync_interval %q: ERROR about the unclean stop logged: %v, want %v; the restart logged:\n%s", tc.setting, got, tc.want, logs.String())
		}
	}
}
