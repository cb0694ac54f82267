package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"

	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// globals are the flags every command takes, before or after its name.
type globals struct {
	config    string
	logLevel  string
	logFormat string
	output    string
}

// app holds what the commands share: the global flags and the process's
// environment and standard input, replaceable in tests.
type app struct {
	g      globals
	getenv func(string) string
	stdin  io.Reader
	// env are overrides layered over getenv (serve --emulator sets
	// CDNPURGE_CDN_EMULATOR through it).
	env map[string]string
	// environ, when set, is the whole environment, checked for CDNPURGE_*
	// variables no config field has.
	environ []string
	// cmd is the command being run; stdout is where help goes.
	cmd    string
	stdout io.Writer
	// usages print each flag set's help (flag's own printing is off).
	usages map[*flag.FlagSet]func(io.Writer)
	// discovery says which running serve the command found (state.go).
	discovery discovery
	// natsOnly is set by commands that never call the CDN API; noCDN
	// records that they run without credentials.
	natsOnly, noCDN bool
	// noPaths is set by commands that take no paths (jobs, pause,
	// resume, schedules): they run without a domain allowlist too.
	noPaths bool
	// refusal is the command's first NATS permission violation; stopCmd
	// ends the command with it (refusal.go).
	refusal atomic.Pointer[queue.PermissionError]
	stopCmd context.CancelCauseFunc
}

func newApp(getenv func(string) string, stdin io.Reader) *app {
	return &app{getenv: getenv, stdin: stdin, env: map[string]string{}, stdout: io.Discard,
		usages: map[*flag.FlagSet]func(io.Writer){}}
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func (a *app) commands() map[string]command {
	return map[string]command{
		"serve":       {"run the webhook server, worker, quota mirror and scheduler", a.serve},
		"purge":       {"refresh (purge) paths from the CDN cache", a.purge},
		"push":        {"prefetch paths into the CDN cache", a.push},
		"quota":       {"show the daily refresh and push quota", a.quota},
		"tasks":       {"show refresh and push tasks", a.tasks},
		"schedules":   {"list schedules with their next runs and last results", a.schedules},
		"service":     {"show or change the CDN service (status, open, billing)", a.service},
		"domain":      {"run one domain configuration action now (allowlisted domains only)", a.domain},
		"emulator":    {"run the CDN API emulator (for demos and tests; never production)", a.emulator},
		"config":      {"check the configuration and print it with secrets masked", a.configCmd},
		"version":     {"print the version", a.version},
		"healthcheck": {"ask a running serve whether it is alive (for container health checks)", a.healthcheck},
		"jobs":        {"list, show, cancel and retry jobs (list --state waiting, show ID, cancel ID, retry ID)", a.jobs},
		"pause":       {"pause all submissions of every replica (cdnpurge resume lifts it)", a.pause},
		"resume":      {"lift the operator's pause of submissions", a.resume},
	}
}

// bindGlobals registers the global flags on fs, keeping values already set.
func (a *app) bindGlobals(fs *flag.FlagSet) {
	fs.StringVar(&a.g.config, "config", a.g.config, "config `FILE` (default $"+config.EnvConfigFile+"; none: defaults and environment)")
	fs.StringVar(&a.g.logLevel, "log-level", a.g.logLevel, "log level: debug, info, warn, error (overrides log.level)")
	fs.StringVar(&a.g.logFormat, "log-format", a.g.logFormat, "log format: auto, text, json (overrides log.format)")
	fs.StringVar(&a.g.output, "output", a.g.output, "output: text or json")
}

func (a *app) main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a.stdout = stdout
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a.stopCmd = stop
	err := a.withRefusal(a.dispatch(ctx, args, stdout, stderr))
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	var ue usageError
	if errors.As(err, &ue) && ue.hint == "" {
		ue.hint = a.helpHint()
		err = ue
	}
	if a.g.output == "json" {
		var rep reportedError
		if !errors.As(err, &rep) {
			_ = writeJSON(stdout, errorReport(err))
		}
	}
	return err
}

// helpHint is the one line a usage error ends with.
func (a *app) helpHint() string {
	if a.cmd == "" {
		return "run 'cdnpurge --help' for usage"
	}
	return "run 'cdnpurge " + a.cmd + " --help' for usage"
}

func (a *app) dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a.g.output = "text"
	fs := flag.NewFlagSet("cdnpurge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.bindGlobals(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	cmds := a.commands()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.rootUsage(stdout, fs, cmds)
		}
		return parseErr(err)
	}
	if *showVersion {
		a.cmd = "version"
		return a.version(ctx, nil, stdout, stderr)
	}
	if fs.NArg() == 0 {
		return usagef("no command given")
	}
	name := fs.Arg(0)
	if name == "help" {
		if fs.NArg() > 1 {
			topic := fs.Arg(1)
			if c, ok := cmds[topic]; ok {
				a.cmd = topic
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
			return usagef("unknown help topic %q%s", topic, didYouMean(topic, slices.Collect(maps.Keys(cmds))))
		}
		a.rootUsage(stdout, fs, cmds)
		return nil
	}
	c, ok := cmds[name]
	if !ok {
		return usagef("unknown command %q%s", name, didYouMean(name, slices.Collect(maps.Keys(cmds))))
	}
	a.cmd = name
	if err := a.checkGlobals(); err != nil {
		return err
	}
	return c.run(ctx, fs.Args()[1:], stdout, stderr)
}

func (a *app) checkGlobals() error {
	if a.g.output != "text" && a.g.output != "json" {
		return usagef("--output %q: want text or json", a.g.output)
	}
	if f := a.g.logFormat; f != "" && f != "auto" && f != "text" && f != "json" {
		return usagef("--log-format %q: want auto, text or json", f)
	}
	return nil
}

func (a *app) rootUsage(w io.Writer, fs *flag.FlagSet, cmds map[string]command) {
	fs.SetOutput(w)
	defer fs.SetOutput(io.Discard)
	fmt.Fprint(w, `cdnpurge: batched, quota-gated Alibaba Cloud CDN refresh and push.

Usage:
  cdnpurge [global flags] <command> [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range slices.Sorted(maps.Keys(cmds)) {
		fmt.Fprintf(tw, "  %s\t%s\n", name, cmds[name].summary)
	}
	tw.Flush()
	fmt.Fprint(w, `
Global flags (also accepted after the command):
`)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Examples:
  cdnpurge serve --emulator --log-format text
  cdnpurge --config /etc/cdnpurge.yaml purge --wait https://static.example.com/app.js
  cdnpurge config check
  cdnpurge help purge

Exit codes: 0 ok, 1 failed or unfinished, 2 usage.
`)
}

// newFlagSet returns a subcommand's flag set with the global flags and a
// usage text with examples. Help goes to standard output; a flag error is
// returned, not printed with the whole usage.
func (a *app) newFlagSet(name, args, about, examples string, _ io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cdnpurge "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.bindGlobals(fs)
	// Commands may call fs.Usage before a usage error; the error's hint
	// points at --help instead.
	fs.Usage = func() {}
	a.usages[fs] = func(w io.Writer) {
		fs.SetOutput(w)
		defer fs.SetOutput(io.Discard)
		fmt.Fprintf(w, "Usage: cdnpurge %s [flags] %s\n\n%s\n\nFlags:\n", name, args, strings.TrimSpace(about))
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// parse parses args, turning flag errors into usage errors (exit 2) and
// -h into flag.ErrHelp (exit 0) after printing the help to stdout.
func (a *app) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if u := a.usages[fs]; u != nil {
				u(a.stdout)
			}
		}
		return parseErr(err)
	}
	return a.checkGlobals()
}

func parseErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err: err}
}

// lookupEnv reads the environment with the app's overrides on top.
func (a *app) lookupEnv(k string) string {
	if v, ok := a.env[k]; ok {
		return v
	}
	return a.getenv(k)
}

// loadConfig reads the config named by --config or CDNPURGE_CONFIG. Commands
// other than serve and config fill in the NATS URL and the emulator's
// endpoint of a serve running beside them (state.go) when the config leaves
// them unset, and commands that need only NATS (a.natsOnly) run without CDN
// credentials.
func (a *app) loadConfig() (*config.Config, error) {
	path := a.g.config
	if path == "" {
		path = a.lookupEnv(config.EnvConfigFile)
	}
	var opts []config.LoadOption
	if a.environ != nil {
		opts = append(opts, config.WithEnviron(a.environ))
	}
	load := func() (*config.Config, error) { return config.Load(path, a.lookupEnv, opts...) }
	c, err := load()
	if a.cmd != "serve" && a.cmd != "config" && a.discover(c, err, load) {
		c, err = load()
	}
	relaxed := []string{"cdn.credentials"}
	if a.noPaths {
		relaxed = append(relaxed, "domains")
	}
	if err != nil && a.natsOnly && onlyProblems(err, relaxed...) {
		// The CDN API is not called: fill the emulator's demo pair only to
		// pass validation; apiClient refuses to build a client.
		a.env[config.EnvName("cdn.emulator")] = "true"
		if c, err = load(); err == nil {
			a.noCDN = true
		}
	}
	if err != nil && a.natsOnly && hasProblem(err, "cdn.credentials") {
		// Report what this command needs, not the credentials it does not.
		var rest []error
		for _, e := range leafErrors(err) {
			if !hasProblem(e, "cdn.credentials") {
				rest = append(rest, e)
			}
		}
		if len(rest) > 0 {
			err = fmt.Errorf("config is invalid:\n%w", errors.Join(rest...))
		}
	}
	if err != nil {
		return nil, err
	}
	switch {
	case a.g.logLevel != "":
		c.Log.Level = a.g.logLevel
	case a.cmd != "serve":
		// One-shot commands print results, not progress logs.
		c.Log.Level = "warn"
	}
	if a.g.logFormat != "" {
		c.Log.Format = a.g.logFormat
	}
	return c, nil
}
