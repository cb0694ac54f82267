// Command cdnpurge turns deploy webhooks and NATS events into batched,
// quota-gated Alibaba Cloud CDN refresh and push calls. This package only
// parses flags and wires the other packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // schedules and quota days name zones; containers often lack a zone database

	"github.com/cdnpurge/cdnpurge/redact"
)

// version is stamped by the build: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a command line that cannot be run as given (exit 2).
// hint is the line printed after it (where to find the usage).
type usageError struct {
	err  error
	hint string
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{err: fmt.Errorf(format, args...)} }

// exitCode maps run's error to the process exit code, printing it with
// its control bytes escaped (it may quote a job's field or a hook's).
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "cdnpurge: %s\n", escapeLines(err.Error()))
		if ue.hint != "" {
			fmt.Fprintln(stderr, ue.hint)
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "cdnpurge: %s\n", escapeLines(err.Error()))
		return exitFailure
	}
}

// escapeLines escapes the control bytes of each line of s but keeps its
// line breaks: an error may list several problems, one a line.
func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = redact.Escape(l)
	}
	return strings.Join(lines, "\n")
}

// run is the whole program with its arguments and output made explicit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := newApp(os.Getenv, os.Stdin)
	a.environ = os.Environ()
	return a.main(ctx, args, stdout, stderr)
}
