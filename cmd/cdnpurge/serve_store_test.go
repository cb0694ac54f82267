package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	waitReady(t, rs.base, false)
	resp, err := http.Get(rs.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "history lost since the last start") || !strings.Contains(string(body), "CDNPURGE") {
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
