package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// cleanEnv unsets every variable the tests could inherit.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
		"CDNPURGE_CONFIG", "CDNPURGE_ENDPOINT", "CDNPURGE_CDN_ENDPOINT", "CDNPURGE_CDN_EMULATOR", "CDNPURGE_DOMAINS",
		"CDNPURGE_NATS_URL", "CDNPURGE_REDIS_URL"} {
		t.Setenv(k, "")
	}
}

// runCLI runs the program and returns its exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	a := newApp(os.Getenv, strings.NewReader(stdin))
	err := a.main(ctx, args, &out, &errOut)
	return exitCode(err, &errOut), out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	cleanEnv(t)
	code, out, _ := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "cdnpurge dev (go") {
		t.Errorf("version: code %d, out %q", code, out)
	}
	code, out, _ = runCLI(t, "", "--output", "json", "version")
	var v struct{ Version, Go string }
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version != "dev" || v.Go == "" {
		t.Errorf("version json: code %d, out %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version", "--bogus"}, "Usage: cdnpurge version"},
		{[]string{"--bogus"}, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{}, "no command given"},
		{[]string{"purge", "--type", "folder", "https://example.com/"}, "--type"},
		{[]string{"purge", "--priority", "urgent", "https://example.com/"}, "--priority \"urgent\""},
		{[]string{"--output", "xml", "version"}, "--output"},
		{[]string{"service", "billing", "Free"}, "charge type"},
	} {
		code, _, stderr := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: code %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	code, out, _ := runCLI(t, "", "help")
	if code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("help: code %d", code)
	}
	code, _, stderr := runCLI(t, "", "purge", "--help")
	if code != 0 || !strings.Contains(stderr, "Examples:") || !strings.Contains(stderr, "--direct") {
		t.Errorf("purge --help: code %d, %q", code, stderr)
	}
}

func TestConfigCheckNeverPrintsSecrets(t *testing.T) {
	cleanEnv(t)
	secrets := map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":           "LTAIvisible",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET":       "access-secret-2f9c1e",
		"ALIBABA_CLOUD_SECURITY_TOKEN":          "sts-token-77aa01",
		"CDNPURGE_WEBHOOKS_GITHUB_SECRET":       "gh-hook-secret-0123456789",
		"CDNPURGE_WEBHOOKS_GENERIC_HMAC_SECRET": "hmac-secret-abcdefabcdef",
		"CDNPURGE_REDIS_URL":                    "redis://:redis-pass-8812@localhost:6379/0",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	for _, output := range []string{"text", "json"} {
		code, out, stderr := runCLI(t, "", "--config", "../../deploy/cdnpurge.example.yaml", "--output", output, "config", "check")
		if code != 0 {
			t.Fatalf("%s: code %d: %s", output, code, stderr)
		}
		for k, v := range secrets {
			if k == "ALIBABA_CLOUD_ACCESS_KEY_ID" {
				if !strings.Contains(out, v) {
					t.Errorf("%s: the key ID should show", output)
				}
				continue
			}
			secret := strings.TrimPrefix(strings.TrimSuffix(v, "@localhost:6379/0"), "redis://:")
			if strings.Contains(out+stderr, secret) {
				t.Errorf("%s output shows %s", output, k)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s: no [redacted] marker:\n%s", output, out)
		}
	}
}

func TestConfigCheckInvalid(t *testing.T) {
	cleanEnv(t)
	t.Setenv("CDNPURGE_WORKER_LINGER", "-1s")
	t.Setenv("CDNPURGE_WEBHOOKS_GITLAB_TOKEN", "short-secret")
	code, out, stderr := runCLI(t, "", "config", "check")
	if code != 1 || !strings.Contains(stderr, "worker.linger: must be > 0") || !strings.Contains(stderr, "cdn.credentials") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
	if strings.Contains(out+stderr, "short-secret") {
		t.Error("an invalid secret was printed")
	}
}

// emulatorEnv points the CLI at an in-process emulator.
func emulatorEnv(t *testing.T, opts cdnemu.Options) *cdnemu.Server {
	t.Helper()
	cleanEnv(t)
	srv, err := cdnemu.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Setenv("CDNPURGE_ENDPOINT", srv.URL)
	t.Setenv("CDNPURGE_CDN_EMULATOR", "true")
	return srv
}

func urlFile(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# deploy 42\n\n")
	for i := range n {
		fmt.Fprintf(&b, "https://example.com/assets/%d.js\n", i)
	}
	p := filepath.Join(t.TempDir(), "urls.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPurgeDirectWait(t *testing.T) {
	srv := emulatorEnv(t, cdnemu.Options{TaskPending: 0, TaskDuration: 0})
	code, out, stderr := runCLI(t, "", "--output", "json", "--log-level", "warn", "purge", "--direct", "--wait", "--poll", "20ms", "-f", urlFile(t, 1500))
	if code != 0 {
		t.Fatalf("code %d: %s%s", code, out, stderr)
	}
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if sum.Paths != 1500 || sum.Submitted != 1500 || sum.Calls != 2 || sum.Completed != len(sum.TaskIDs) || sum.Pending != 0 || sum.Failed != 0 {
		t.Errorf("summary = %+v", sum)
	}
	if got := len(srv.Paths(apiclient.ActionRefreshObjectCaches)); got != 1500 {
		t.Errorf("emulator received %d paths, want 1500", got)
	}
	if got := srv.QuotaUsed().URL; got != 1500 {
		t.Errorf("quota used %d", got)
	}
}

func TestPurgeDirectWaitsForQuota(t *testing.T) {
	srv := emulatorEnv(t, cdnemu.Options{})
	srv.SetQuota(cdnemu.Quota{URL: 250, Dir: 100, Regex: 20, Preload: 1000})
	code, out, stderr := runCLI(t, "", "--log-level", "error", "purge", "--direct", "--wait", "--poll", "20ms", "-f", urlFile(t, 300))
	if code != 1 {
		t.Fatalf("code %d, want 1: %s%s", code, out, stderr)
	}
	if !strings.Contains(out, "50 paths wait for quota until") || !strings.Contains(stderr, "50 paths wait for quota") {
		t.Errorf("out %q stderr %q", out, stderr)
	}
	if got := len(srv.Paths(apiclient.ActionRefreshObjectCaches)); got != 250 {
		t.Errorf("emulator received %d paths, want the 250 the quota allows", got)
	}
}

func TestPushFromStdinRefusesForeignDomain(t *testing.T) {
	srv := emulatorEnv(t, cdnemu.Options{})
	code, _, stderr := runCLI(t, "https://example.com/a.js\nhttps://evil.example.net/b.js\n", "push", "--direct", "-f", "-")
	if code != 1 || !strings.Contains(stderr, "evil.example.net") || !strings.Contains(stderr, "nothing sent") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
	if srv.Calls(apiclient.ActionPushObjectCache) != 0 {
		t.Error("a push was sent although a path was refused")
	}
}

func TestEmulatorCommandAnswersSignedCall(t *testing.T) {
	cleanEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- newApp(os.Getenv, strings.NewReader("")).main(ctx, []string{"emulator", "--listen", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[3], "http://127.0.0.1:") {
		t.Fatalf("line %q", line)
	}
	cl, err := apiclient.New(apiclient.Options{Endpoint: fields[3], DCDNEndpoint: fields[3],
		Credentials: apiclient.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.DescribeCdnService(ctx)
	if err != nil || st.InstanceID != cdnemu.DefaultInstanceID {
		t.Errorf("DescribeCdnService = %+v, %v", st, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("emulator returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop")
	}
}

func TestQuotaAndServiceAgainstEmulator(t *testing.T) {
	emulatorEnv(t, cdnemu.Options{})
	code, out, stderr := runCLI(t, "", "--log-level", "error", "quota", "--sync")
	if code != 0 || !strings.Contains(out, "url") {
		t.Errorf("quota: code %d out %q stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLI(t, "", "--output", "json", "service", "status")
	if code != 0 || !strings.Contains(out, cdnemu.DefaultInstanceID) {
		t.Errorf("service status: code %d out %q stderr %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, "", "tasks", "--limit", "5")
	if code != 0 || !strings.Contains(out, "TASK") {
		t.Errorf("tasks: code %d out %q", code, out)
	}
}
