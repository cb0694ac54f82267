package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/redact"
)

// noServeHint is what a command that needs a serve beside it says when
// none runs and no NATS is configured: the fix, first.
const noServeHint = "no serve is running here: start `make run` (or `cdnpurge serve`) in this directory, or set nats.url to the NATS of a running serve"

// noServeError is the error of a command that found no serve beside it
// and no NATS configured.
type noServeError struct {
	detail string
	err    error
}

func (e noServeError) Error() string {
	msg := noServeHint
	if e.detail != "" {
		msg += " (" + e.detail + ")"
	}
	if e.err != nil {
		msg += "\n" + e.err.Error()
	}
	return msg
}

func (e noServeError) Unwrap() error { return e.err }

// noServeBeside reports whether a command runs with no serve found beside
// it and no nats.url in its environment.
func (a *app) noServeBeside() bool {
	return a.discovery.pid == 0 && a.lookupEnv(config.EnvName("nats.url")) == ""
}

// checkDefaultNATS dials the NATS URL a command fell back to (no nats.url,
// no serve's state file) once, so that a missing serve is reported as
// such instead of as a failed bucket or publish.
func (s *setup) checkDefaultNATS() error {
	if !s.natsDefault {
		return nil
	}
	raw := s.cfg.NATSURL()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		return noServeError{detail: fmt.Sprintf("nothing answers at %s, and %s holds no %s of a running serve",
			redact.URL(raw), s.cfg.NATS.Embedded.StoreDir, stateFileName)}
	}
	_ = c.Close()
	return nil
}

// isConfigError reports whether err is a config validation error.
func isConfigError(err error) bool {
	var fe config.FieldError
	return errors.As(err, &fe)
}
