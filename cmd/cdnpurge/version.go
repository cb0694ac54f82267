package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

func (a *app) version(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("version", "", "Print the version of this binary.", "  cdnpurge version\n  cdnpurge version --output json", stderr)
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version takes no arguments")
	}
	info := struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
	}{version, runtime.Version(), runtime.GOOS, runtime.GOARCH}
	if a.g.output == "json" {
		return writeJSON(stdout, info)
	}
	_, err := fmt.Fprintf(stdout, "cdnpurge %s (%s, %s/%s)\n", info.Version, info.Go, info.OS, info.Arch)
	return err
}
