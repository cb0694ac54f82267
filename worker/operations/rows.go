package operations

import (
	"fmt"
	"strings"
	"time"
)

// Row is one schedule with its next runs and its shared state, the data
// `cdnpurge schedules` shows (cmd/cdnpurge renders it).
type Row struct {
	Name     string `json:"name"`
	Cron     string `json:"cron"`
	TimeZone string `json:"time_zone"`
	Action   string `json:"action"`
	CatchUp  bool   `json:"catch_up"`
	Disabled bool   `json:"disabled,omitempty"`
	// Next are the next run times in the schedule's zone.
	Next []time.Time `json:"next"`
	// State is the shared state (zero when the schedule never ran).
	State State `json:"state"`
	// loc is the schedule's zone, for LastRunLocal.
	loc *time.Location
}

// LastRunLocal is the last run in the schedule's zone (zero when the
// schedule never ran).
func (r Row) LastRunLocal() time.Time {
	if r.State.LastRun.IsZero() {
		return time.Time{}
	}
	if r.loc == nil {
		return r.State.LastRun
	}
	return r.State.LastRun.In(r.loc)
}

// Rows returns each schedule with its next n run times after now in its
// zone and its last run and result from states (by name).
func Rows(schedules []Schedule, states map[string]State, now time.Time, n int) ([]Row, error) {
	if errs := ValidateAll(schedules, nil); errs != nil {
		return nil, fmt.Errorf("schedules: %w", errs.Prefix("schedules"))
	}
	rows := make([]Row, 0, len(schedules))
	for _, s := range schedules {
		e, err := s.parse()
		if err != nil {
			return nil, err
		}
		r := Row{Name: s.Name, Cron: s.Cron, TimeZone: e.loc.String(), Action: s.Action, CatchUp: s.CatchUp,
			Disabled: s.Disabled, State: states[s.Name], loc: e.loc}
		if r.State.Schedule == "" {
			r.State.Schedule = s.Name
		}
		if !s.Disabled {
			r.Next = e.nextN(now, n)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// oneLine folds s's whitespace into single spaces and cuts it at n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
