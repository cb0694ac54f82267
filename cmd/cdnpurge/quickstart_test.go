package main

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// quickStartLines returns the shell lines of the README's quick start, in
// order, continuation lines joined.
func quickStartLines(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Quick start")
	if start < 0 {
		t.Fatal("README has no Quick start section")
	}
	s = s[start+1:]
	if end := strings.Index(s[3:], "\n## "); end >= 0 {
		s = s[:end+3]
	}
	var lines []string
	in := false
	cont := ""
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
			continue
		case strings.HasPrefix(l, "```"):
			in = false
			continue
		}
		if !in || strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, strings.TrimSpace(cont+l))
		cont = ""
	}
	return lines
}

// shellWords splits a command line as sh would for the quoting the README
// uses (single and double quotes, no expansions).
func shellWords(line string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// curlPost performs the README's curl line against addr.
func curlPost(t *testing.T, words []string, addr string) {
	t.Helper()
	var url, body string
	hdr := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-H":
			k, v, _ := strings.Cut(words[i+1], ":")
			hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			i++
		case "-d":
			body = words[i+1]
			i++
		case "-X":
			i++
		default:
			if !strings.HasPrefix(w, "-") {
				url = w
			}
		}
	}
	url = "http://" + addr + strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "localhost:8080")
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s: HTTP %d", strings.Join(words, " "), resp.StatusCode)
	}
}

// The README's quick start as written: make run (serve --emulator with the
// demo token, here on free ports), then from "another terminal" every
// command it lists, with no flags and no environment at all, each exit 0.
//
// Serial: the commands find the serve through the default data directory,
// data/nats of the working directory, which is what this test checks; it
// changes the process's working directory to a temporary one.
func TestQuickStart(t *testing.T) {
	lines := quickStartLines(t, "../../README.md")
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(makefile, []byte("CDNPURGE_WEBHOOKS_GENERIC_TOKEN=$(DEMO_TOKEN) $(BIN) serve --emulator")) {
		t.Fatal("make run no longer runs serve --emulator with the demo token; update this test")
	}
	t.Chdir(t.TempDir())

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	serveEnv := map[string]string{
		"CDNPURGE_WEBHOOKS_GENERIC_TOKEN": "demo-token-change-me",
		"CDNPURGE_WEBHOOKS_LISTEN":        addr,
		// Not the default 127.0.0.1:9090, which anything else on the
		// machine may hold.
		"CDNPURGE_ADMIN_LISTEN":       "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"CDNPURGE_NATS_EMBEDDED_PORT": strconv.Itoa(freePort(t)),
		"CDNPURGE_WORKER_LINGER":      "50ms",
	}
	maps.Copy(serveEnv, fastTracker)
	ctx, cancel := context.WithCancel(context.Background())
	var serveLog syncBuffer
	var wg sync.WaitGroup
	wg.Go(func() {
		a := newApp(func(k string) string { return serveEnv[k] }, strings.NewReader(""))
		if err := a.main(ctx, []string{"serve", "--emulator", "--log-format", "text"}, &serveLog, &serveLog); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop()
	waitReady(t, "http://"+addr, filepath.Join("data", "nats"))
	fi, err := os.Stat(filepath.Join("data", "nats", stateFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	state, _ := os.ReadFile(filepath.Join("data", "nats", stateFileName))
	if !bytes.Contains(state, []byte(`"emulator": true`)) || bytes.Contains(state, []byte("testsecret")) || bytes.Contains(state, []byte("demo-token")) {
		t.Errorf("state file: want the emulator named and no secret:\n%s", state)
	}

	noEnv := func(string) string { return "" }
	ran := 0
	for _, line := range lines {
		w := shellWords(line)
		switch {
		case len(w) == 2 && w[0] == "make" && w[1] == "run":
			continue // serve is running
		case w[0] == "curl":
			curlPost(t, w, addr)
		case w[0] == "bin/cdnpurge" || w[0] == "cdnpurge":
			ran++
			var out, errOut bytes.Buffer
			cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := newApp(noEnv, strings.NewReader("")).main(cctx, w[1:], &out, &errOut)
			ccancel()
			if code := exitCode(err, &errOut); code != 0 {
				t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", line, code, out.String(), errOut.String())
				continue
			}
			if w[1] != "healthcheck" && !strings.Contains(errOut.String(), "of the serve running as pid") {
				t.Errorf("%s: stderr does not say which endpoint it uses: %q", line, errOut.String())
			}
			if strings.Contains(errOut.String(), " INF ") || strings.Contains(errOut.String(), `"level":"INFO"`) {
				t.Errorf("%s: a one-shot command logged at info: %q", line, errOut.String())
			}
		default:
			t.Fatalf("the quick start has a line this test cannot run: %q", line)
		}
	}
	if ran < 5 {
		t.Fatalf("only %d cdnpurge commands found in the quick start", ran)
	}
	stop()
	if _, err := os.Stat(filepath.Join("data", "nats", stateFileName)); !os.IsNotExist(err) {
		t.Errorf("state file left after serve stopped: %v", err)
	}
	logs := serveLog.String()
	for _, want := range []string{"webhook endpoints", "/hooks/generic", "webhooks.github_secret", "metrics on the admin listener"} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve log lacks %q", want)
		}
	}
	if strings.Contains(logs, "testsecret") {
		t.Error("the emulator's secret reached the log")
	}
}
