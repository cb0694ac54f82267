package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lmittmann/tint"
	"golang.org/x/term"

	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/redact"
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
			return slog.New(safeHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})}), nil
		}
		fallthrough
	case "text":
		return slog.New(safeHandler{tint.NewTextHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !tty})}), nil
	case "json":
		return slog.New(safeHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})}), nil
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

// safeHandler makes every log line safe to show: string and error values
// pass through redact.Scrub (a secret that slipped into an error is not
// written), and the message, keys and values through redact.Escape, so
// that a hook's ESC or newline cannot clear an operator's screen (tint
// writes its colours around the raw text), colour it or forge a line, and
// a U+FFFD cannot hide what follows it. JSON logs get the same, as they
// are read in terminals too (C1 controls and U+FFFD are valid JSON).
type safeHandler struct {
	inner slog.Handler
}

func (h safeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h safeHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, redact.Escape(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h safeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	safe := make([]slog.Attr, len(as))
	for i, a := range as {
		safe[i] = h.attr(a)
	}
	return safeHandler{h.inner.WithAttrs(safe)}
}

func (h safeHandler) WithGroup(name string) slog.Handler {
	return safeHandler{h.inner.WithGroup(redact.Escape(name))}
}

// attr returns a with its key and values made safe, groups included.
func (h safeHandler) attr(a slog.Attr) slog.Attr {
	a.Key = redact.Escape(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		safe := make([]slog.Attr, len(g))
		for i, ga := range g {
			safe[i] = h.attr(ga)
		}
		a.Value = slog.GroupValue(safe...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(h.text(x.Error()))
		case []string:
			safe := make([]string, len(x))
			for i, s := range x {
				safe[i] = h.text(s)
			}
			a.Value = slog.AnyValue(safe)
		default:
			if s := fmt.Sprint(x); redact.NeedsEscape(s) {
				a.Value = slog.StringValue(redact.Escape(s))
			} else {
				a.Value = v
			}
		}
	default:
		a.Value = v
	}
	return a
}

// text is a string value made safe.
func (h safeHandler) text(s string) string { return redact.Escape(redact.Scrub(s)) }
