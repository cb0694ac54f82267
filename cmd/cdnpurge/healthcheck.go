package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck asks a running serve whether it is alive, for container
// health checks on images that have no curl.
func (a *app) healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("healthcheck", "", "Ask a running `cdnpurge serve` whether it is alive (exit 0) or not (exit 1).",
		"  cdnpurge healthcheck\n  cdnpurge healthcheck --url http://127.0.0.1:8080/readyz", stderr)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "the endpoint to ask: /healthz (alive) or /readyz (NATS and Redis reachable); default: the serve running beside, else this")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("healthcheck takes no arguments")
	}
	if !flagSet(fs, "url") {
		if addr := a.runningHTTPAddr(); addr != "" {
			*url = "http://" + addr + "/healthz"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("--url %q: %v", *url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check %s: %w (is cdnpurge serve running there?)", *url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check %s: HTTP %d: %s", *url, resp.StatusCode, body)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", body)
	return err
}
