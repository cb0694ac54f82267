package operations

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// ErrNotAuthorized marks a message that is not a tick of a schedule of this
// replica's configuration (or one that already ran). The worker terminates
// it and reports it on the invalid subject; nothing reaches the API.
var ErrNotAuthorized = errors.New("not a tick of a configured schedule")

// DefaultTickAhead is how far in the future a tick may lie (clocks of
// replicas disagree by a little): a tick further ahead was not published
// by a scheduler.
const DefaultTickAhead = time.Minute

// AuthorityConfig wires an Authority.
type AuthorityConfig struct {
	// Schedules are this replica's configured schedules.
	Schedules []Schedule
	// Allowlist is the domain allowlist; it also normalises the paths of
	// refresh and push ticks. Required.
	Allowlist *jobs.Validator
	// State, when set, refuses an operation tick whose run is recorded as
	// done, or older than a tick that ran.
	State StateStore
	// Now is time.Now when nil.
	Now func() time.Time
	// Ahead is DefaultTickAhead when zero.
	Ahead time.Duration
}

// Authority decides which ticks the worker runs: a tick runs only when it
// is a fire time of an enabled schedule of this replica's configuration,
// and its job (action, parameters, paths, domains) is built from that
// configuration, never from the message. It implements worker.Ticks.
type Authority struct {
	entries map[string]*entry
	allow   *jobs.Validator
	state   StateStore
	now     func() time.Time
	ahead   time.Duration
}

// NewAuthority checks the schedules against the allowlist and returns an
// Authority.
func NewAuthority(cfg AuthorityConfig) (*Authority, error) {
	if cfg.Allowlist == nil {
		return nil, errors.New("schedule authority: no domain allowlist")
	}
	if errs := ValidateAll(cfg.Schedules, cfg.Allowlist); errs != nil {
		return nil, fmt.Errorf("schedules: %w", errs.Prefix("schedules"))
	}
	entries, err := parseAll(cfg.Schedules)
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	a := &Authority{entries: map[string]*entry{}, allow: cfg.Allowlist, state: cfg.State, now: cfg.Now, ahead: cfg.Ahead}
	for _, e := range entries {
		a.entries[e.Name] = e
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.ahead <= 0 {
		a.ahead = DefaultTickAhead
	}
	return a, nil
}

func notAuthorized(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotAuthorized)
}

// Resolve returns the job of the tick of schedule name at tick, built from
// the configuration. claimed is the operation section of a message on the
// legacy operations subjects (published by a scheduler of an earlier
// version), nil for a message of the tick stream; its action and
// parameters must be the configured ones. Errors wrap ErrNotAuthorized and
// say why, in a form fit for the invalid report.
func (a *Authority) Resolve(ctx context.Context, name string, tick time.Time, claimed *jobs.OperationSpec) (*jobs.Job, error) {
	e, ok := a.entries[name]
	if !ok {
		return nil, notAuthorized("schedule %q is not an enabled schedule in this replica's configuration; operators change the account with the cdnpurge CLI", oneLine(name, 64))
	}
	if tick.IsZero() {
		return nil, notAuthorized("schedule %s: the message names no tick", name)
	}
	if !tick.Equal(tick.Truncate(time.Second)) || !e.Next(tick.Add(-time.Second)).Equal(tick) {
		return nil, notAuthorized("schedule %s: %s is not a fire time of its cron %q", name, tick.UTC().Format(time.RFC3339Nano), e.Cron)
	}
	if now := a.now(); tick.After(now.Add(a.ahead)) {
		return nil, notAuthorized("schedule %s: tick %s is in the future (now %s)", name, tick.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	j := e.job(tick)
	if claimed != nil {
		if j.Operation == nil {
			return nil, notAuthorized("schedule %s is a %s schedule; its ticks are not operations", name, e.Action)
		}
		if claimed.Action != j.Operation.Action {
			return nil, notAuthorized("schedule %s runs %s, the message asks for %q", name, j.Operation.Action, oneLine(claimed.Action, 64))
		}
		if !sameParams(claimed.Params, j.Operation.Params) {
			return nil, notAuthorized("schedule %s: the message's params differ from the configured ones", name)
		}
	}
	if j.Operation != nil {
		if err := CheckDomains(j.Operation.Action, j.Operation.Params, a.allow); err != nil {
			return nil, notAuthorized("schedule %s: %v", name, err)
		}
		if err := a.notDone(ctx, name, tick); err != nil {
			return nil, err
		}
		return j, nil
	}
	if err := a.allow.Validate(j); err != nil {
		return nil, notAuthorized("schedule %s: %v", name, err)
	}
	return j, nil
}

// notDone refuses a tick whose run is recorded as done, or older than a
// tick that ran. A failed run of the same tick may be tried again.
func (a *Authority) notDone(ctx context.Context, name string, tick time.Time) error {
	if a.state == nil {
		return nil
	}
	st, ok, err := a.state.Load(ctx, name)
	if err != nil || !ok || st.LastRunTick.IsZero() {
		// Without the state the stream's dedupe still holds; refusing
		// would drop the configured tick.
		return nil
	}
	switch {
	case tick.Before(st.LastRunTick):
		return notAuthorized("schedule %s: tick %s is older than tick %s, which already ran", name,
			tick.UTC().Format(time.RFC3339), st.LastRunTick.UTC().Format(time.RFC3339))
	case tick.Equal(st.LastRunTick) && (st.LastResult == ResultOK || st.LastResult == ResultSkipped):
		return notAuthorized("schedule %s: tick %s already ran (%s)", name, tick.UTC().Format(time.RFC3339), st.LastResult)
	}
	return nil
}

func sameParams(claimed, configured map[string]string) bool {
	if len(claimed) != len(configured) {
		return false
	}
	return maps.EqualFunc(claimed, configured, func(a, b string) bool { return strings.TrimSpace(a) == b })
}
