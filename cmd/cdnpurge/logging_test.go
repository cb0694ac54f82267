package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A hook's ESC sequences, newlines and U+FFFD reach a text log escaped,
// whole and on one line (issue 32); JSON logs stay JSON and both drop a
// secret that slipped into an error.
func TestLogEscapesControlBytes(t *testing.T) {
	t.Parallel()
	hostile := "acme/x\x1b[2J\x1b[1;31mEVIL\u0085RED\ufffdHIDDEN-REST\nforged line"
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := newLogger(&buf, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		log = log.With(slog.String("repo", hostile)).WithGroup("hook\x1b")
		log.Info("push\x1b[2J received", slog.String("path", hostile), slog.Any("error", errors.New(`provider said {"SessionToken":"canary-log"}`)),
			slog.Any("files", []string{hostile}), slog.Group("g", slog.String("inner", hostile)))
		out := buf.String()
		if strings.Contains(out, "\x1b") || strings.Count(out, "\n") != 1 || strings.Contains(out, "\u0085") || strings.Contains(out, "\ufffd") {
			t.Errorf("%s log holds a raw control byte or a second line:\n%q", format, out)
		}
		if strings.Contains(out, "canary-log") {
			t.Errorf("%s log holds the secret: %s", format, out)
		}
		if !strings.Contains(out, "HIDDEN-REST") {
			t.Errorf("%s log lost the text after U+FFFD: %s", format, out)
		}
	}
}
