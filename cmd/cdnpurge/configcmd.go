package main

import (
	"context"
	"fmt"
	"io"
)

func (a *app) configCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("config", "check|show",
		`Load the config (file, then CDNPURGE_* environment, then defaults), validate it
with the checks serve runs at start, and print the result. Every problem is
listed at once, in file order, with its field path and line (or variable), and
the command exits 1. The YAML printed loads again into the same config: secrets
are not printed (a comment says which are set). show prints the same without
the "is valid" line. See docs/configuration.md.`,
		"  cdnpurge --config deploy/cdnpurge.example.yaml config check\n  CDNPURGE_WORKER_LINGER=2s cdnpurge config show --output json", stderr)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "check" && fs.Arg(0) != "show") {
		fs.Usage()
		return usagef("config: want the subcommand check or show")
	}
	c, err := a.loadConfig()
	if err != nil {
		return err
	}
	var out []byte
	if a.g.output == "json" {
		out, err = c.JSON()
	} else {
		out, err = c.YAML()
	}
	if err != nil {
		return err
	}
	src := c.Source()
	if src == "" {
		src = "(no file: defaults and environment)"
	}
	if fs.Arg(0) == "check" {
		fmt.Fprintf(stderr, "config %s is valid\n", src)
		for _, w := range c.Warnings() {
			fmt.Fprintf(stderr, "WARN %s\n", w)
		}
	}
	_, err = stdout.Write(out)
	return err
}
