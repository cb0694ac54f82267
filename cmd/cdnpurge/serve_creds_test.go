package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// serve takes its keys from a credentials URI that rotates them every few
// fetches, and keeps purging: every hook's paths land, signed with keys
// minted after serve started, none refused.
func TestServeRotatingCredentials(t *testing.T) {
	t.Parallel()
	emu, err := cdnemu.NewServer(cdnemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	rot := &cdnemu.RotatingCredentials{Emulator: emu.Emulator, Every: 2}
	uri := httptest.NewServer(rot)
	t.Cleanup(uri.Close)

	const token = "test-token-0123456789"
	env := serveTestEnv(t, map[string]string{
		"CDNPURGE_ENDPOINT":               emu.URL,
		"CDNPURGE_DOMAINS":                "example.com",
		"CDNPURGE_CDN_CREDENTIALS_TYPE":   "credentials_uri",
		"CDNPURGE_CDN_CREDENTIALS_URI":    uri.URL + "/credentials",
		"CDNPURGE_WEBHOOKS_GENERIC_TOKEN": token,
		"CDNPURGE_WORKER_LINGER":          "20ms",
	})
	var errOut syncBuffer
	stop := startServeWith(t, env, []string{"--log-format", "json", "serve"}, io.Discard, &errOut)
	base := "http://" + env["CDNPURGE_WEBHOOKS_LISTEN"]
	waitReady(t, base, "")
	const hooks = 6
	for i := range hooks {
		body := fmt.Sprintf(`{"kind":"refresh","refresh":{"paths":["https://example.com/r%d.js"]}}`, i)
		if code, rb := postGenericHook(base, token, body); code != http.StatusAccepted {
			t.Fatalf("hook %d: %d %s", i, code, rb)
		}
		want := i + 1
		jobstest.Eventually(t, "the hook's path to land", 20*time.Second, func() bool {
			return len(emu.Paths(apiclient.CDN().Actions.Refresh)) >= want
		})
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v; stderr:\n%s", err, errOut.String())
	}
	keys := map[string]bool{}
	for _, r := range emu.Requests() {
		if r.Action == apiclient.CDN().Actions.Refresh {
			if r.Code != "" {
				t.Errorf("a refresh was refused: %s", r.Code)
			}
			keys[r.Params.Get("AccessKeyId")] = true
		}
	}
	if len(keys) < 3 || rot.Minted() < 4 {
		t.Fatalf("refreshes used %d keys, %d minted: the rotation was not followed", len(keys), rot.Minted())
	}
	logs := errOut.String()
	if strings.Contains(logs, "rotated-secret") || strings.Contains(logs, "rotated-token") {
		t.Errorf("a secret reached the logs:\n%s", logs)
	}
}
