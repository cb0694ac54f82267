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
	"text/tabwriter"

	"github.com/cdnpurge/cdnpurge/config"
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
}

func newApp(getenv func(string) string, stdin io.Reader) *app {
	return &app{getenv: getenv, stdin: stdin, env: map[string]string{}}
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
	a.g.output = "text"
	fs := flag.NewFlagSet("cdnpurge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	a.bindGlobals(fs)
	cmds := a.commands()
	fs.Usage = func() { a.rootUsage(fs, cmds) }
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("no command given")
	}
	name := fs.Arg(0)
	if name == "help" {
		if fs.NArg() > 1 {
			if c, ok := cmds[fs.Arg(1)]; ok {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		fs.SetOutput(stdout)
		fs.Usage()
		return nil
	}
	c, ok := cmds[name]
	if !ok {
		fs.Usage()
		return usagef("unknown command %q", name)
	}
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

func (a *app) rootUsage(fs *flag.FlagSet, cmds map[string]command) {
	w := fs.Output()
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

Exit codes: 0 ok, 1 failure, 2 usage.
`)
}

// newFlagSet returns a subcommand's flag set with the global flags and a
// usage text with examples.
func (a *app) newFlagSet(name, args, about, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cdnpurge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	a.bindGlobals(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: cdnpurge %s [flags] %s\n\n%s\n\nFlags:\n", name, args, strings.TrimSpace(about))
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// parse parses args, turning flag errors into usage errors (exit 2) and
// -h into flag.ErrHelp (exit 0).
func (a *app) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	return a.checkGlobals()
}

func parseErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

// lookupEnv reads the environment with the app's overrides on top.
func (a *app) lookupEnv(k string) string {
	if v, ok := a.env[k]; ok {
		return v
	}
	return a.getenv(k)
}

// loadConfig reads the config named by --config or CDNPURGE_CONFIG.
func (a *app) loadConfig() (*config.Config, error) {
	path := a.g.config
	if path == "" {
		path = a.lookupEnv(config.EnvConfigFile)
	}
	var opts []config.LoadOption
	if a.environ != nil {
		opts = append(opts, config.WithEnviron(a.environ))
	}
	c, err := config.Load(path, a.lookupEnv, opts...)
	if err != nil {
		return nil, err
	}
	if a.g.logLevel != "" {
		c.Log.Level = a.g.logLevel
	}
	if a.g.logFormat != "" {
		c.Log.Format = a.g.logFormat
	}
	return c, nil
}
