package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// canaryBody is a credentials provider's failing answer holding the
// canary in every encoding the security review tried (issue 32).
const canaryBody = `{"Message":"rotation failed","SessionToken":"canary-e2e-1","Credentials":{"AccessKeySecret":"canary-e2e-2"}}
access-key-secret: canary-e2e-3
AccessKeySecret=canary-e2e-4&x=1
<p>AccessKeySecret&#61;canary-e2e-5</p>
{\"AccessKeySecret\":\"canary-e2e-6\"}`

// A credentials provider that starts failing with canaries in its answer:
// they reach no status event, job record, CLI output, /readyz or info
// log. The worker pauses with the provider, status and request ID only.
func TestProviderCanaryReachesNoOutput(t *testing.T) {
	t.Parallel()
	emu, err := cdnemu.NewServer(cdnemu.Options{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	rot := &cdnemu.RotatingCredentials{Emulator: emu.Emulator, Every: 1}
	var failing atomic.Bool
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !failing.Load() {
			rot.ServeHTTP(w, r)
			return
		}
		w.Header().Set("X-Request-Id", "req-canary-1")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, canaryBody)
	}))
	t.Cleanup(provider.Close)
	env := serveTestEnv(t, map[string]string{
		"CDNPURGE_DOMAINS": "example.com", "CDNPURGE_ENDPOINT": emu.URL, "CDNPURGE_CDN_DCDN_ENDPOINT": emu.URL,
		"CDNPURGE_CDN_ACCOUNT_ID": cdnemu.DefaultAccountID, "CDNPURGE_WORKER_DEFER_MAX": "1s",
		"CDNPURGE_CDN_CREDENTIALS_TYPE": credentials.ModeCredentialsURI, "CDNPURGE_CDN_CREDENTIALS_URI": provider.URL + "/creds",
	})
	logs := &syncBuffer{}
	startServeWith(t, env, []string{"--log-format", "json", "serve"}, io.Discard, logs)
	base := "http://" + env["CDNPURGE_WEBHOOKS_LISTEN"]
	waitReady(t, base, "")
	defer func() {
		if t.Failed() {
			t.Logf("serve log:\n%s", logs.String())
		}
	}()
	jobstest.Eventually(t, "the quota synced with working credentials", 20*time.Second, func() bool {
		for _, r := range emu.Requests() {
			if r.Action == "DescribeRefreshQuota" && r.Status == http.StatusOK {
				return true
			}
		}
		return false
	})
	failing.Store(true)
	getenv := func(k string) string { return env[k] }
	code, out, stderr := runApp(t, getenv, "", "purge", "https://example.com/app.js")
	if code != 0 {
		t.Fatalf("purge: %d %s %s", code, out, stderr)
	}
	id := strings.Fields(out)[2]
	jobstest.Eventually(t, "the job deferred by the failing provider", 30*time.Second, func() bool {
		_, out, _ := runApp(t, getenv, "", "jobs", "show", id)
		return strings.Contains(out, "credentials provider")
	})
	// The replica reports its automatic pause to the control bucket.
	jobstest.Eventually(t, "jobs list to show the automatic pause", 20*time.Second, func() bool {
		_, out, _ := runApp(t, getenv, "", "jobs", "list")
		return strings.Contains(out, "PAUSED")
	})
	outputs := map[string]string{}
	for name, args := range map[string][]string{
		"jobs show":      {"jobs", "show", id},
		"jobs show json": {"--output", "json", "jobs", "show", id},
		"jobs list":      {"jobs", "list"},
		"quota":          {"quota"},
		"service status": {"service", "status"},
	} {
		_, out, stderr := runApp(t, getenv, "", args...)
		outputs[name] = out + stderr
	}
	if !strings.Contains(outputs["jobs show"], "HTTP 500") || !strings.Contains(outputs["jobs show"], "req-canary-1") {
		t.Errorf("jobs show should name the status and the request ID:\n%s", outputs["jobs show"])
	}
	r, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	outputs["/readyz"] = string(b)
	outputs["serve log (info)"] = logs.String()
	for name, text := range outputs {
		for _, leak := range []string{"canary-e2e", "rotation failed"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s shows %q:\n%s", name, leak, text)
			}
		}
	}
}
