package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// On a fresh clone with no serve running and no nats.url, the commands
// that need one say so and name the fix, instead of a failed bucket or an
// empty domain list.
func TestNoServeErrorsNameTheFix(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(freePort(t)) // nothing listens there
	// An empty data directory: no serve's state file.
	env := map[string]string{"CDNPURGE_NATS_EMBEDDED_PORT": port, "CDNPURGE_NATS_EMBEDDED_STORE_DIR": t.TempDir()}
	for _, args := range [][]string{{"jobs", "list"}, {"purge", "https://example.com/a.js"}, {"pause"}, {"resume"}, {"jobs", "show", "x"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			for _, output := range []string{"text", "json"} {
				var out, errOut bytes.Buffer
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := newApp(func(k string) string { return env[k] }, strings.NewReader("")).main(ctx,
					append([]string{"--output", output}, args...), &out, &errOut)
				cancel()
				if err == nil {
					t.Fatalf("%s: no error", output)
				}
				msg := err.Error()
				if output == "json" {
					var body errorBody
					if json.Unmarshal(out.Bytes(), &body) != nil {
						t.Fatalf("json: stdout is not an error report: %s", out.String())
					}
					msg = body.Error
				}
				if !strings.Contains(msg, "no serve is running here: start `make run`") || !strings.Contains(msg, "set nats.url") {
					t.Errorf("%s: %q does not name the fix", output, msg)
				}
				if strings.Contains(msg, "outbound buffer") {
					t.Errorf("%s: %q still reports the buffer", output, msg)
				}
			}
		})
	}
}

// A problem of the CLI's JSON report carries its text under "reason", as
// hooks and status events do, and under the deprecated "message".
func TestProblemReasonAndMessage(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(problem{Field: "domains", Message: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil || got["reason"] != "empty" || got["message"] != "empty" || got["field"] != "domains" {
		t.Errorf("problem JSON = %s", b)
	}
}
