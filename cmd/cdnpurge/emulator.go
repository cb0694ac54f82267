package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// DefaultEmulatorListen is where `cdnpurge emulator` listens by default.
const defaultEmulatorListen = "127.0.0.1:8090"

func (a *app) emulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("emulator", "",
		`Run the CDN API emulator: a real HTTP server that checks v1 signatures and keeps
an account with domains, quotas, rate limits and tasks. For demos and tests only;
nothing real is purged. Point a client at it with CDNPURGE_ENDPOINT=<printed URL>.`,
		`  cdnpurge emulator --listen 127.0.0.1:8090
  cdnpurge emulator --listen 127.0.0.1:0 --domains example.com,*.example.org
  CDNPURGE_ENDPOINT=http://127.0.0.1:8090 CDNPURGE_CDN_EMULATOR=true cdnpurge quota --sync`, stderr)
	var opts cdnemu.Options
	opts.RegisterFlags(fs)
	listen := fs.String("listen", defaultEmulatorListen, "`ADDR` to listen on (127.0.0.1:0 picks a free port)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("emulator takes no arguments, got %q", fs.Args())
	}
	if err := opts.Validate(); err != nil {
		return usageError{err: err}
	}
	e, err := cdnemu.New(opts)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	srv, err := cdnemu.Serve(e, *listen)
	if err != nil {
		return fmt.Errorf("emulator on %s: %w (pick a free address with --listen)", *listen, err)
	}
	fmt.Fprintf(stdout, "emulator listening on %s (%s)\n", srv.URL, opts.String())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
