package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/worker"
)

// chromiumPath is Debian's chromium, which .ci/run installs when missing.
const chromiumPath = "/usr/bin/chromium"

// In a real headless Chromium the console shows a job queued by purge,
// finds it by its URL, shows its paths and task once it completed,
// refuses actions without a login, and, logged in with admin.token,
// pauses (a job queued meanwhile is held) and resumes (it goes out). A
// screenshot is kept as an artifact (CDNPURGE_TEST_ARTIFACTS, else the
// test's temporary directory) and its path logged.
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed (apt-get install chromium); CI runs this test", chromiumPath)
		}
		t.Fatalf("%s missing in CI: .ci/run installs it", chromiumPath)
	}
	const token = "console-test-token"
	b := startServeBesideWith(t, map[string]string{"CDNPURGE_ADMIN_TOKEN": token})
	admin := b.admin
	base := "http://" + admin + "/console/"

	const url = "https://example.com/console/app.js"
	code, out, stderr := b.run(t, "purge", url)
	if code != 0 {
		t.Fatalf("purge: %d %s %s", code, out, stderr)
	}
	id := strings.Fields(out)[2]

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// text reads an element's text in one step of the page's own script:
	// a page that re-renders between finding the element and reading it
	// (the job list refreshes itself) made a read by node fail with "No
	// node with given id found". An element missing at that moment is
	// waited for again.
	text := func(sel string) string {
		t.Helper()
		js := `(function(){var e=document.querySelector(` + strconv.Quote(sel) + `);return e?e.innerText:null})()`
		for range 5 {
			s, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
			if err != nil {
				t.Fatalf("read %s: %v", sel, err)
			}
			if s != nil {
				return *s
			}
			do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
		}
		t.Fatalf("read %s: it kept vanishing", sel)
		return ""
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	// The overview, then the job found by its URL and opened.
	do("load the overview", chromedp.Navigate(base), chromedp.WaitVisible(css("#states")))
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || !strings.Contains(title, "Overview") {
		t.Errorf("overview title %q (%v)", title, err)
	}
	do("search the job by its URL", chromedp.Navigate(base+"jobs"), chromedp.WaitVisible(css("#q")),
		chromedp.SendKeys(css("#q"), url), chromedp.Click(css("#search-submit")), chromedp.WaitVisible(css("a.job-link")))
	if found := text("#jobs tbody"); !strings.Contains(found, id) || !strings.Contains(found, url) {
		t.Fatalf("search for %s lists:\n%s", url, found)
	}
	do("open the job", chromedp.Click(css("a.job-link")), chromedp.WaitVisible(css("#job")))
	// The page follows the job's events and reloads until it is complete.
	do("see the job complete", chromedp.WaitVisible(css("#job-state.complete")))
	if paths, tasks := text("#paths"), strings.TrimSpace(text("#tasks")); !strings.Contains(paths, url) || tasks == "-" || tasks == "" {
		t.Errorf("completed job: paths %q, tasks %q", paths, tasks)
	}

	// Without a login an action is refused, with a message.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(function(){var f=document.createElement("form");f.method="post";f.action="/console/pause";document.body.appendChild(f);f.submit();return 1;})()`)); err != nil {
		t.Fatalf("post a pause without a session: %v", err)
	}
	do("see the refusal", chromedp.WaitVisible(css("#error")))
	if refused := text("#error"); !strings.Contains(refused, "log in with admin.token") {
		t.Errorf("action without a session: %q", refused)
	}
	if _, ps, _ := b.run(t, "jobs", "list"); !strings.Contains(ps, "running (not paused)") {
		t.Fatalf("a pause without a session took effect:\n%s", ps)
	}

	// Logged in: pause holds a new job, resume releases it.
	do("log in", chromedp.Navigate(base+"login"), chromedp.WaitVisible(css("#token")), chromedp.SendKeys(css("#token"), token),
		chromedp.Click(css("#login-submit")), chromedp.WaitVisible(css("#pause-form")))
	do("pause", chromedp.SendKeys(css("#pause-reason"), "browser test freeze"), chromedp.Click(css("#pause")),
		chromedp.WaitVisible(css("#pauses .paused")))
	code, out, stderr = b.run(t, "purge", "https://example.com/console/held.js")
	if code != 0 {
		t.Fatalf("purge during the pause: %d %s %s", code, out, stderr)
	}
	held := strings.Fields(out)[2]
	jobstest.Eventually(t, "the job held by the console's pause", time.Minute, func() bool {
		v := b.jobState(t, held)
		return v.State == worker.ViewDeferred && strings.Contains(v.Reason, "browser test freeze")
	})
	do("open the held job", chromedp.Navigate(base+"jobs/"+held), chromedp.WaitVisible(css("#job")))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := artifactPath(t, "console-paused.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the console: %s", shot)
	do("resume", chromedp.Navigate(base), chromedp.WaitVisible(css("#resume-form")), chromedp.Click(css("#resume")),
		chromedp.WaitVisible(css("p#pauses")))
	jobstest.Eventually(t, "the held job released by the resume", time.Minute, func() bool {
		return b.jobState(t, held).State == worker.ViewComplete
	})
}

// artifactPath is where a test keeps a file for people to look at:
// CDNPURGE_TEST_ARTIFACTS when set (CI uploads it), else the test's
// temporary directory.
func artifactPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("CDNPURGE_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}
