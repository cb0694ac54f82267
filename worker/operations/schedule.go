// Package operations holds the changes cdnpurge makes to the CDN's
// configuration on a schedule: the cron schedules (billing switches,
// domain configuration changes, domain start/stop, scheduled refreshes
// and prefetches), the authority that decides which ticks run, and the
// operator that carries them out. Every tick becomes a job on the JetStream work stream
// with a message ID made of the schedule's name and the tick's time, so
// that with several replicas each tick runs exactly once; the worker runs
// operation jobs through Operator. ServiceChecker watches the account's
// service state and pauses purges while it is financially locked.
package operations

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// DefaultTimeZone is the zone of a schedule that names none: the CDN
// account's own (billing changes and quota days are Asia/Shanghai).
const DefaultTimeZone = apiclient.QuotaTimeZone

// Schedule is one cron entry of the configuration.
type Schedule struct {
	// Name identifies the schedule in logs, job subjects, message IDs and
	// the state bucket: 1-64 letters, digits, '-' or '_'.
	Name string `yaml:"name" json:"name"`
	// Cron is a robfig/cron expression: five fields, six with leading
	// seconds, or a descriptor such as @daily or @every 30m.
	Cron string `yaml:"cron" json:"cron"`
	// TimeZone is an IANA zone name; default DefaultTimeZone.
	TimeZone string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"`
	// CatchUp runs the last missed tick once on start when no replica ran
	// it (all were down at the time).
	CatchUp bool `yaml:"catch_up,omitempty" json:"catch_up,omitempty"`
	// Disabled keeps the entry in the config without running it.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// Action is ModifyCdnService, OpenCdnService, a domain configuration
	// action (see KnownActions), StartCdnDomain, StopCdnDomain, refresh or
	// push.
	Action string `yaml:"action" json:"action"`
	// Params are the API action's parameters as the API names them.
	Params map[string]string `yaml:"params,omitempty" json:"params,omitempty"`

	// Paths are the URLs (or directories, or one regex) of a refresh or
	// push.
	Paths []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	// ObjectType of a refresh: File (default), Directory, Regex, ExQuery.
	ObjectType string `yaml:"object_type,omitempty" json:"object_type,omitempty"`
	// Force of a non-File refresh.
	Force *bool `yaml:"force,omitempty" json:"force,omitempty"`
	// Area of a push: domestic or overseas.
	Area         string `yaml:"area,omitempty" json:"area,omitempty"`
	L2Preload    bool   `yaml:"l2_preload,omitempty" json:"l2_preload,omitempty"`
	WithHeader   string `yaml:"with_header,omitempty" json:"with_header,omitempty"`
	QueryHashkey bool   `yaml:"query_hashkey,omitempty" json:"query_hashkey,omitempty"`
}

// cronParser accepts standard five fields, optional leading seconds and
// descriptors (@daily, @every 30m).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// loadLocation loads an IANA zone. Asia/Shanghai falls back to a fixed
// UTC+8 zone on hosts without tzdata (it has no daylight saving).
func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimeZone
	}
	if name == DefaultTimeZone {
		return quota.DefaultLocation(), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a known time zone (want an IANA name such as Asia/Shanghai or UTC; a host without tzdata needs it installed or a build with -tags timetzdata): %w", name, err)
	}
	return loc, nil
}

// Validate checks the schedule at index i of the config and returns every
// problem, each at its field relative to the schedules list, for example
// "[2] (nightly).params.DomainName: required by SetRefererConfig".
func (s Schedule) Validate(i int) fielderr.List {
	f := fmt.Sprintf("[%d]", i)
	if s.Name != "" {
		f = fmt.Sprintf("[%d] (%s)", i, s.Name)
	}
	var probs fielderr.List
	add := func(field, format string, args ...any) { probs.Add(fielderr.Join(f, field), format, args...) }

	switch {
	case s.Name == "":
		add("name", "missing; give each schedule a unique name")
	case !jobs.ValidToken(s.Name):
		add("name", "%q: use 1-64 letters, digits, '-' or '_' (it becomes a subject token and a key)", s.Name)
	}
	if _, err := s.parse(); err != nil {
		var fe fielderr.Error
		if !errors.As(err, &fe) {
			fe = fielderr.Error{Message: err.Error()}
		}
		add(fe.Field, "%s", fe.Message)
	}
	switch s.Action {
	case "":
		add("action", "missing; want ModifyCdnService, a domain configuration action, StartCdnDomain, StopCdnDomain, refresh or push")
	case ActionRefresh, ActionPush:
		probs.Append(f, s.checkPurge())
	default:
		spec, ok := knownActions[s.Action]
		if !ok {
			msg := fmt.Sprintf("unknown action %q", s.Action)
			if sug := suggestAction(s.Action, append(KnownActions(), ActionRefresh, ActionPush)); sug != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", sug)
			} else {
				msg += "; see the known actions in the schedules section of the README"
			}
			add("action", "%s", msg)
			break
		}
		probs.Append(fielderr.Join(f, "params"), checkParams(s.Action, spec, s.Params))
		if len(s.Paths) > 0 || s.ObjectType != "" || s.Force != nil || s.Area != "" {
			add("paths", "only refresh and push schedules take paths, object_type, force or area")
		}
	}
	return probs
}

// checkPurge checks the refresh/push fields, each at its field; paths
// themselves are checked against the allowed domains by ValidateAll.
func (s Schedule) checkPurge() fielderr.List {
	var probs fielderr.List
	if len(s.Params) > 0 {
		probs.Add("params", "%s schedules take paths (and object_type, force, area), not params", s.Action)
	}
	if len(s.Paths) == 0 {
		probs.Add("paths", "missing; a %s schedule needs at least one URL", s.Action)
	}
	if s.Action == ActionPush && (s.ObjectType != "" || s.Force != nil) {
		probs.Add("object_type", "push takes no object_type or force; they belong to refresh")
	}
	if s.Action == ActionRefresh && (s.Area != "" || s.L2Preload || s.WithHeader != "" || s.QueryHashkey) {
		probs.Add("area", "refresh takes no area, l2_preload, with_header or query_hashkey; they belong to push")
	}
	return probs
}

// ValidateAll checks every schedule, that names are unique, and, when v
// (the domain allowlist) is not nil, the paths of refresh and push
// schedules and the DomainName of domain actions against the allowed
// domains. It returns every problem at its field relative to the list
// ("[2] (nightly).cron"); the caller adds "schedules".
func ValidateAll(list []Schedule, v *jobs.Validator) fielderr.List {
	var errs fielderr.List
	seen := map[string]int{}
	for i, s := range list {
		if probs := s.Validate(i); probs != nil {
			errs = append(errs, probs...)
			continue
		}
		f := fmt.Sprintf("[%d] (%s)", i, s.Name)
		if j, ok := seen[s.Name]; ok {
			errs.Add(fmt.Sprintf("[%d].name", i), "%q is also the name of schedules[%d]; names must be unique", s.Name, j)
		}
		seen[s.Name] = i
		if v != nil && s.Action != ActionRefresh && s.Action != ActionPush {
			if err := checkDomainName(s.Action, s.Params, v); err != nil {
				errs.Add(f+".params.DomainName", "%v", err)
			}
		}
		if v != nil && (s.Action == ActionRefresh || s.Action == ActionPush) {
			j := s.job(time.Unix(0, 0))
			if err := v.Validate(j); err != nil {
				var ve *jobs.ValidationError
				if errors.As(err, &ve) {
					for _, p := range ve.Problems {
						errs.Add(fielderr.Join(f, p.Field), "%s %s", p.Path, p.Reason)
					}
				} else {
					errs.Add(f, "%v", err)
				}
			}
		}
	}
	return errs
}

// entry is a validated schedule ready to compute ticks.
type entry struct {
	Schedule
	loc   *time.Location
	sched cron.Schedule
}

// parse builds the entry; its errors are fielderr.Errors at the field
// (cron, time_zone).
func (s Schedule) parse() (*entry, error) {
	loc, err := loadLocation(s.TimeZone)
	if err != nil {
		return nil, fielderr.Error{Field: "time_zone", Message: err.Error()}
	}
	spec := strings.TrimSpace(s.Cron)
	switch {
	case spec == "":
		return nil, fielderr.Error{Field: "cron", Message: "missing; for example \"0 23 * * *\" or \"@every 30m\""}
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, fielderr.Error{Field: "cron", Message: fmt.Sprintf("%q: put the zone in time_zone, not in the expression", s.Cron)}
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fielderr.Error{Field: "cron", Message: fmt.Sprintf("%q: %v (want 5 fields \"min hour dom month dow\", 6 with leading seconds, or a descriptor such as @daily or @every 30m)", s.Cron, err)}
	}
	if probe := nextTick(sched, loc, time.Now()); probe.IsZero() {
		return nil, fielderr.Error{Field: "cron", Message: fmt.Sprintf("%q never fires", s.Cron)}
	}
	return &entry{Schedule: s, loc: loc, sched: sched}, nil
}

// Next returns the first tick of the schedule after t, in its zone.
func (e *entry) Next(t time.Time) time.Time { return nextTick(e.sched, e.loc, t) }

// nextTick is sched.Next in loc. An @every schedule is aligned to the Unix
// epoch rather than to t, so that replicas started at different times agree
// on its ticks (and so on the ticks' message IDs).
func nextTick(sched cron.Schedule, loc *time.Location, t time.Time) time.Time {
	if cd, ok := sched.(cron.ConstantDelaySchedule); ok {
		d := int64(cd.Delay / time.Second)
		if d <= 0 {
			d = 1
		}
		sec := t.Unix()
		n := (sec/d + 1) * d
		return time.Unix(n, 0).In(loc)
	}
	return sched.Next(t.In(loc))
}

// Prev returns the latest tick at or before now, or false when there is
// none within five years. It widens its search window step by step so that
// it never walks more than a few dozen ticks.
func (e *entry) Prev(now time.Time) (time.Time, bool) {
	now = now.In(e.loc)
	for _, w := range []time.Duration{2 * time.Second, time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour,
		367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour} {
		t := e.Next(now.Add(-w))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := e.Next(t)
			if n.IsZero() || n.After(now) {
				return t, true
			}
			t = n
		}
	}
	return time.Time{}, false
}

// DedupeKey is the Nats-Msg-Id of the tick of schedule name at t: the same
// on every replica, so the stream stores the tick once.
func DedupeKey(name string, tick time.Time) string {
	return "sched-" + name + "-" + strconv.FormatInt(tick.Unix(), 10)
}

// job builds the job of tick t.
func (s Schedule) job(t time.Time) *jobs.Job {
	key := DedupeKey(s.Name, t)
	j := &jobs.Job{Version: jobs.WireVersion, ID: jobs.IDFromKey(key), Source: "schedule:" + s.Name, ReceivedAt: t.UTC()}
	switch s.Action {
	case ActionRefresh:
		j.Kind = jobs.KindRefresh
		j.Refresh = &jobs.RefreshSpec{Paths: append([]string(nil), s.Paths...), ObjectType: s.ObjectType, Force: s.Force}
	case ActionPush:
		j.Kind = jobs.KindPush
		j.Push = &jobs.PushSpec{Paths: append([]string(nil), s.Paths...), Area: s.Area, L2Preload: s.L2Preload,
			WithHeader: s.WithHeader, QueryHashkey: s.QueryHashkey}
	default:
		params := make(map[string]string, len(s.Params))
		for k, v := range s.Params {
			params[k] = strings.TrimSpace(v)
		}
		j.Kind = jobs.KindOperation
		j.Operation = &jobs.OperationSpec{Schedule: s.Name, Tick: t.UTC(), Action: s.Action, Params: params}
	}
	return j
}

// parseAll validates list and returns its enabled entries.
func parseAll(list []Schedule) ([]*entry, error) {
	if errs := ValidateAll(list, nil); errs != nil {
		return nil, errs.Prefix("schedules")
	}
	var out []*entry
	for _, s := range list {
		if s.Disabled {
			continue
		}
		e, err := s.parse()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
