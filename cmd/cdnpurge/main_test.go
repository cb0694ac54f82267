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
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// cleanEnv unsets every variable the tests could inherit. Only tests of
// what the process's environment does need it; the others build their
// own environment and run the program in it (runCLIWith).
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
		"CDNPURGE_CONFIG", "CDNPURGE_ENDPOINT", "CDNPURGE_CDN_ENDPOINT", "CDNPURGE_CDN_DCDN_ENDPOINT", "CDNPURGE_CDN_EMULATOR", "CDNPURGE_DOMAINS",
		"CDNPURGE_NATS_URL", "CDNPURGE_REDIS_URL"} {
		t.Setenv(k, "")
	}
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

// runCLIWith runs the program with env as its whole environment (nil: an
// empty one), so that tests with environments of their own can run in
// parallel, and returns its exit code and output.
func runCLIWith(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runApp(t, func(k string) string { return env[k] }, stdin, args...)
}

func runApp(t *testing.T, getenv func(string) string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runAppWithin(t, 30*time.Second, getenv, stdin, args...)
}

// runAppWithin is runApp with a deadline of d for the command (a command
// that waits for an unreachable server gives up then).
func runAppWithin(t *testing.T, d time.Duration, getenv func(string) string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errOut bytes.Buffer
	a := newApp(getenv, strings.NewReader(stdin))
	err := a.main(ctx, args, &out, &errOut)
	return exitCode(err, &errOut), out.String(), errOut.String()
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLIWith(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "cdnpurge dev (go") {
		t.Errorf("version: code %d, out %q", code, out)
	}
	code, out, _ = runCLIWith(t, nil, "", "--output", "json", "version")
	var v struct{ Version, Go string }
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version != "dev" || v.Go == "" {
		t.Errorf("version json: code %d, out %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version", "--bogus"}, "cdnpurge: flag provided but not defined: -bogus\nrun 'cdnpurge version --help' for usage\n"},
		{[]string{"--bogus"}, "run 'cdnpurge --help' for usage"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"purg", "x"}, "did you mean purge?"},
		{[]string{"help", "purj"}, `unknown help topic "purj"; did you mean purge?`},
		{[]string{}, "no command given"},
		{[]string{"purge", "--type", "folder", "https://example.com/"}, "--type"},
		{[]string{"purge", "--priority", "urgent", "https://example.com/"}, "--priority \"urgent\""},
		{[]string{"--output", "xml", "version"}, "--output"},
		{[]string{"service", "billing", "Free"}, "charge type"},
		{[]string{"purge"}, "no paths given"},
	} {
		code, out, stderr := runCLIWith(t, nil, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: code %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		// The error comes first and the usage is not dumped.
		if !strings.HasPrefix(stderr, "cdnpurge: ") || strings.Count(stderr, "\n") > 2 || out != "" {
			t.Errorf("%q: stderr %q stdout %q; want the error and one hint line only", tc.args, stderr, out)
		}
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"help", "purge"}, {"purge", "--help"}, {"jobs", "--help"}, {"pause", "-h"}} {
		code, out, stderr := runCLIWith(t, nil, "", args...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "Examples:") || stderr != "" {
			t.Errorf("%q: code %d, stdout %d bytes, stderr %q; want 0 and the help on stdout", args, code, len(out), stderr)
		}
	}
	if _, out, _ := runCLIWith(t, nil, "", "help", "purge"); !strings.Contains(out, "--direct") {
		t.Error("help purge does not list --direct")
	}
	code, out, _ := runCLIWith(t, nil, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "cdnpurge dev") {
		t.Errorf("--version: code %d, %q", code, out)
	}
}

// Every failure with --output json leaves a JSON error report on stdout
// with a code scripts can branch on.
func TestJSONErrorReport(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	for _, tc := range []struct {
		stdin    string
		args     []string
		exit     int
		code     string
		problems int
	}{
		{"", []string{"purg"}, 2, codeUsage, 0},
		{"", []string{"tasks", "--limit", "0"}, 2, codeUsage, 0},
		{"https://example.com/a.js\nhttps://evil.example.net/b.js\n", []string{"purge", "--direct", "-f", "-"}, 1, codeRefused, 1},
	} {
		code, out, stderr := runCLIWith(t, env, tc.stdin, append([]string{"--output", "json"}, tc.args...)...)
		var rep errorBody
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Errorf("%q: stdout is not one JSON report (%v): %q", tc.args, err, out)
			continue
		}
		if code != tc.exit || rep.Code != tc.code || rep.Error == "" || len(rep.Problems) != tc.problems || stderr == "" {
			t.Errorf("%q: exit %d report %+v; want exit %d code %s with %d problems", tc.args, code, rep, tc.exit, tc.code, tc.problems)
		}
	}
	env["CDNPURGE_WORKER_LINGER"] = "-1s"
	code, out, _ := runCLIWith(t, env, "", "--output", "json", "config", "check")
	var rep errorBody
	if json.Unmarshal([]byte(out), &rep) != nil || code != 1 || rep.Code != codeConfig || len(rep.Problems) == 0 || rep.Problems[0].Field == "" {
		t.Errorf("config check: exit %d, %q", code, out)
	}
}

func TestDidYouMean(t *testing.T) {
	t.Parallel()
	known := []string{"purge", "push", "quota", "tasks", "jobs", "schedules"}
	for got, want := range map[string]string{"prge": "purge", "pus": "push", "task": "tasks", "jbos": "jobs", "xyzzy": ""} {
		s := didYouMean(got, known)
		if want == "" && strings.Contains(s, "did you mean") || want != "" && !strings.Contains(s, "did you mean "+want+"?") {
			t.Errorf("didYouMean(%q) = %q, want %q", got, s, want)
		}
	}
}

func TestSummaryCountsTasksAndPathsApart(t *testing.T) {
	t.Parallel()
	s := summary{Action: "purge file", Mode: "direct", Paths: 3, Submitted: 3, Calls: 1, TaskIDs: []string{"1"}, Unit: "tasks",
		Waited: true, Failed: 1, start: time.Now()}
	s.failPaths(failure{What: "task 1 https://example.com/a", Reason: "origin 404"}, 1)
	s.failPaths(failure{What: "task 1 https://example.com/b", Reason: "origin 404"}, 1)
	var b strings.Builder
	if err := s.write(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"3 paths, 3 submitted in 1 call, 1 task; tasks: 0 complete, 1 failed, 0 pending; 2 paths failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary %q lacks %q", out, want)
		}
	}
	if !strings.Contains(s.err().Error(), "1 task failed (2 paths)") {
		t.Errorf("err = %v", s.err())
	}
	if plural(1, "path") != "1 path" || plural(0, "job") != "0 jobs" {
		t.Error("plural")
	}
}

func TestConfigCheckNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":           "LTAIvisible",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET":       "access-secret-2f9c1e",
		"ALIBABA_CLOUD_SECURITY_TOKEN":          "sts-token-77aa01",
		"CDNPURGE_WEBHOOKS_GITHUB_SECRET":       "gh-hook-secret-0123456789",
		"CDNPURGE_WEBHOOKS_GENERIC_HMAC_SECRET": "hmac-secret-abcdefabcdef",
		"CDNPURGE_REDIS_URL":                    "redis://:redis-pass-8812@localhost:6379/0",
	}
	for _, output := range []string{"text", "json"} {
		code, out, stderr := runCLIWith(t, secrets, "", "--config", "../../deploy/cdnpurge.example.yaml", "--output", output, "config", "check")
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
	t.Parallel()
	env := map[string]string{"CDNPURGE_WORKER_LINGER": "-1s", "CDNPURGE_WEBHOOKS_GITLAB_TOKEN": "short-secret",
		"CDNPURGE_CDN_CREDENTIALS_TYPE": "access_key"}
	code, out, stderr := runCLIWith(t, env, "", "config", "check")
	if code != 1 || !strings.Contains(stderr, "worker.linger: -1s: must be > 0 (from CDNPURGE_WORKER_LINGER)") || !strings.Contains(stderr, "cdn.credentials.type: access_key needs a key pair") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
	if strings.Contains(out+stderr, "short-secret") {
		t.Error("an invalid secret was printed")
	}
}

// A misspelled CDNPURGE_* variable in the process environment is refused
// with the name it was probably meant to be.
//
// Serial: what it checks is that run reads the process's environment
// (os.Environ), so it sets variables there.
func TestConfigCheckUnknownVariable(t *testing.T) {
	cleanEnv(t)
	t.Setenv("CDNPURGE_CDN_EMULATOR", "true")
	t.Setenv("CDNPURGE_WORKR_LINGER", "2s")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"config", "check"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "CDNPURGE_WORKR_LINGER: unknown environment variable: no config field has this name; did you mean CDNPURGE_WORKER_LINGER?") {
		t.Errorf("run = %v", err)
	}
}

// emulatorEnv starts an in-process emulator and returns it with an
// environment that points the CLI at it (for runCLIWith; the test may add
// to it).
func emulatorEnv(t *testing.T, opts cdnemu.Options) (*cdnemu.Server, map[string]string) {
	t.Helper()
	srv, err := cdnemu.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, map[string]string{
		"CDNPURGE_ENDPOINT":          srv.URL,
		"CDNPURGE_CDN_DCDN_ENDPOINT": srv.URL,
		"CDNPURGE_CDN_EMULATOR":      "true",
		// A NATS of the test's own: quota reads the pauses there at once,
		// where an unreachable one costs its 3 s timeout.
		"CDNPURGE_NATS_URL": jobstest.RunNATS(t).URL,
	}
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
	t.Parallel()
	srv, env := emulatorEnv(t, cdnemu.Options{TaskPending: 0, TaskDuration: 0})
	code, out, stderr := runCLIWith(t, env, "", "--output", "json", "--log-level", "warn", "purge", "--direct", "--wait", "--poll", "20ms", "-f", urlFile(t, 1500))
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
	if got := len(srv.Paths(apiclient.CDN().Actions.Refresh)); got != 1500 {
		t.Errorf("emulator received %d paths, want 1500", got)
	}
	if got := srv.QuotaUsed().URL; got != 1500 {
		t.Errorf("quota used %d", got)
	}
}

func TestPurgeDirectWaitsForQuota(t *testing.T) {
	t.Parallel()
	srv, env := emulatorEnv(t, cdnemu.Options{})
	srv.SetQuota(cdnemu.Quota{URL: 250, Dir: 100, Regex: 20, Preload: 1000})
	code, out, stderr := runCLIWith(t, env, "", "--log-level", "error", "purge", "--direct", "--wait", "--poll", "20ms", "-f", urlFile(t, 300))
	if code != 1 {
		t.Fatalf("code %d, want 1: %s%s", code, out, stderr)
	}
	if !strings.Contains(out, "50 paths wait for quota until") || !strings.Contains(stderr, "50 paths wait for quota") {
		t.Errorf("out %q stderr %q", out, stderr)
	}
	// The wait ends when the quota resets, 00:00 in Shanghai, not when the
	// worker would look again (worker.defer_max).
	if !strings.Contains(out, " 00:00 Asia/Shanghai)") {
		t.Errorf("the wait does not end at the quota reset: %q", out)
	}
	if got := len(srv.Paths(apiclient.CDN().Actions.Refresh)); got != 250 {
		t.Errorf("emulator received %d paths, want the 250 the quota allows", got)
	}
	// The spent quota is read again at most once before the rest is
	// reported waiting, never in a loop against the API.
	if n := srv.Calls(apiclient.CDN().Actions.Quota); n > 3 {
		t.Errorf("DescribeRefreshQuota called %d times for one run; want at most 3 (first sync, one re-sync)", n)
	}
}

func TestPushFromStdinRefusesForeignDomain(t *testing.T) {
	t.Parallel()
	srv, env := emulatorEnv(t, cdnemu.Options{})
	code, _, stderr := runCLIWith(t, env, "https://example.com/a.js\nhttps://evil.example.net/b.js\n", "push", "--direct", "-f", "-")
	if code != 1 || !strings.Contains(stderr, "evil.example.net") || !strings.Contains(stderr, "nothing sent") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
	if srv.Calls(apiclient.CDN().Actions.Push) != 0 {
		t.Error("a push was sent although a path was refused")
	}
}

func TestEmulatorCommandAnswersSignedCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- newApp(noEnv, strings.NewReader("")).main(ctx, []string{"emulator", "--listen", "127.0.0.1:0"}, pw, io.Discard)
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
	cl, err := apiclient.New(apiclient.Options{Endpoint: fields[3], Endpoints: map[apiclient.Product]string{apiclient.ProductDCDN: fields[3]},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.DescribeService(ctx, apiclient.CDN())
	if err != nil || st.InstanceID != cdnemu.DefaultInstanceID {
		t.Errorf("DescribeCdnService = %+v, %v", st, err)
	}
	stopEmulatorCmd(t, cancel, done)
}

func TestQuotaAndServiceAgainstEmulator(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	code, out, stderr := runCLIWith(t, env, "", "--log-level", "error", "quota", "--sync")
	if code != 0 || !strings.Contains(out, "url") {
		t.Errorf("quota: code %d out %q stderr %q", code, out, stderr)
	}
	code, out, stderr = runCLIWith(t, env, "", "--output", "json", "service", "status")
	if code != 0 || !strings.Contains(out, cdnemu.DefaultInstanceID) {
		t.Errorf("service status: code %d out %q stderr %q", code, out, stderr)
	}
	code, out, _ = runCLIWith(t, env, "", "tasks", "--limit", "5")
	if code != 0 || !strings.Contains(out, "TASK") {
		t.Errorf("tasks: code %d out %q", code, out)
	}
}

// stopEmulatorCmd stops a running `cdnpurge emulator` (cancel) and checks
// it returned cleanly on done.
func stopEmulatorCmd(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
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
