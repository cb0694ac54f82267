package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"
	"golang.org/x/term"

	"github.com/cdnpurge/cdnpurge/config"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newLogger logs to w: auto is coloured text on a terminal and JSON
// otherwise; text is tint's text, coloured only on a terminal.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lv, err := config.ParseLogLevel(level)
	if err != nil {
		return nil, usagef("log level %w", err)
	}
	tty := isTerminal(w)
	switch format {
	case "", "auto":
		if !tty {
			return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
		}
		fallthrough
	case "text":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !tty})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
	default:
		return nil, usagef("log format %q: want auto, text or json", format)
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
