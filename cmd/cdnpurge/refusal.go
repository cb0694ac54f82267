package main

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// roles are the NATS roles of deploy/nats/authorization.conf for the
// names in cfg, to name the role a refused command needs.
func roles(cfg *config.Config) []queue.Role {
	subj, _ := cfg.Subjects()
	consumer := cfg.Worker.Consumer
	if consumer == "" {
		consumer = "cdnpurge-worker"
	}
	return queue.Roles(queue.RoleNames{Subjects: subj, Stream: cfg.NATS.Stream, StatusStream: cfg.NATS.StatusStream,
		Replay: cfg.Webhooks.ReplayBucket, Control: worker.DefaultControlBucket, Archive: worker.DefaultArchiveBucket, History: worker.DefaultHistoryBucket,
		Tasks: cfg.Worker.TaskBucket, Schedules: operations.DefaultStateBucket, Consumers: []string{consumer, "cdnpurge-archive"}})
}

// natsUser is the user a connection to rawURL with auth logs in as, for
// refusals: nats.user, else the user of the URL; "" for nkeys, credentials
// files and tokens.
func natsUser(auth queue.Auth, rawURL string) string {
	if auth.User != "" {
		return auth.User
	}
	first, _, _ := strings.Cut(rawURL, ",")
	if u, err := url.Parse(strings.TrimSpace(first)); err == nil && u.User != nil {
		if _, isPassword := u.User.Password(); isPassword {
			return u.User.Username()
		}
	}
	return ""
}

// refused records the first permission violation of this command and
// stops it: the request that caused it gets no answer and would otherwise
// wait for its timeout.
func (a *app) refused(pe *queue.PermissionError) {
	if a.refusal.CompareAndSwap(nil, pe) && a.stopCmd != nil {
		a.stopCmd(pe)
	}
}

// withRefusal puts the command's first permission violation in place of
// err, which is only its echo (a timeout, a cancelled context).
func (a *app) withRefusal(err error) error {
	if pe := a.refusal.Load(); pe != nil && err != nil {
		var ue usageError
		var rep reportedError
		switch {
		case errors.As(err, &ue):
			return err
		case errors.As(err, &rep):
			// The command's JSON result is out already: one document only.
			return reportedError{pe}
		}
		return pe
	}
	return err
}

// bindOrOpen binds to an existing bucket (bind), and makes it (open) only
// when it is missing: cdnpurge serve creates every bucket at start, so a
// user without the right to create one needs none.
func bindOrOpen[T any](bind, open func() (T, error)) (T, error) {
	v, err := bind()
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return open()
	}
	return v, err
}

// refusalOr returns the permission violation that stopped ctx in place of
// err (its echo), else err.
func refusalOr(ctx context.Context, err error) error {
	var pe *queue.PermissionError
	if err != nil && errors.As(context.Cause(ctx), &pe) {
		return pe
	}
	return err
}
