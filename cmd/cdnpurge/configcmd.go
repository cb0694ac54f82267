package main

import (
	"context"
	"fmt"
	"io"
)

func (a *app) configCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("config", "check",
		`Load the config (file, then CDNPURGE_* environment, then defaults), validate it,
and print the result with every secret masked. Problems are listed with their
field paths and the command exits 1.`,
		"  cdnpurge --config deploy/cdnpurge.example.yaml config check\n  CDNPURGE_WORKER_LINGER=2s cdnpurge config check --output json", stderr)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "check" {
		fs.Usage()
		return usagef("config: want the subcommand check")
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
	fmt.Fprintf(stderr, "config %s is valid\n", src)
	_, err = stdout.Write(out)
	return err
}
