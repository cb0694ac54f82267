package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Row is one schedule as `cdnpurge schedules` shows it.
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
}

// Rows returns each schedule with its next n run times after now in its
// zone and its last run and result from states (by name).
func Rows(schedules []Schedule, states map[string]State, now time.Time, n int) ([]Row, error) {
	if err := ValidateAll(schedules, nil); err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	rows := make([]Row, 0, len(schedules))
	for _, s := range schedules {
		e, err := s.parse()
		if err != nil {
			return nil, err
		}
		r := Row{Name: s.Name, Cron: s.Cron, TimeZone: e.loc.String(), Action: s.Action, CatchUp: s.CatchUp,
			Disabled: s.Disabled, State: states[s.Name]}
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

// Table writes Rows as an aligned table: name, action, cron and zone, next
// runs, last run and its result.
func Table(w io.Writer, schedules []Schedule, states map[string]State, now time.Time, n int) error {
	rows, err := Rows(schedules, states, now, n)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACTION\tCRON\tZONE\tCATCH-UP\tNEXT RUNS\tLAST RUN\tRESULT")
	for _, r := range rows {
		next := "disabled"
		if !r.Disabled {
			parts := make([]string, 0, len(r.Next))
			for _, t := range r.Next {
				parts = append(parts, t.Format("2006-01-02 15:04:05"))
			}
			next = strings.Join(parts, ", ")
		}
		last, result := "never", "-"
		if !r.State.LastRun.IsZero() {
			loc, _ := loadLocation(r.TimeZone)
			last = r.State.LastRun.In(loc).Format("2006-01-02 15:04:05")
			result = r.State.LastResult
			if r.State.LastMessage != "" {
				result += ": " + oneLine(r.State.LastMessage, 100)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Action, r.Cron, r.TimeZone, yesNo(r.CatchUp), next, last, result)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write schedules table: %w", err)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// ServiceStatus writes DescribeCdnService (and DescribeDcdnIpaService when
// ipa is true) to w, as JSON when jsonOut is true. A financial lock is
// shown, not returned as an error; errors are the API's.
func ServiceStatus(ctx context.Context, api StatusAPI, w io.Writer, jsonOut, ipa bool) error {
	st, err := api.DescribeCdnService(ctx)
	if err != nil {
		return fmt.Errorf("read CDN service state: %w", err)
	}
	var ipaSt *apiclient.ServiceStatus
	if ipa {
		s, err := api.DescribeDcdnIpaService(ctx)
		if err != nil {
			return fmt.Errorf("read DCDN IPA service state: %w", err)
		}
		ipaSt = &s
	}
	if jsonOut {
		out := map[string]any{"cdn": statusView(st)}
		if ipaSt != nil {
			out["dcdn_ipa"] = statusView(*ipaSt)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("write service status: %w", err)
		}
		return nil
	}
	if err := writeStatus(w, "CDN", st); err != nil {
		return err
	}
	if ipaSt != nil {
		return writeStatus(w, "DCDN IPA", *ipaSt)
	}
	return nil
}

// statusJSON is a service state in the snake_case every command prints
// (the API's own fields are PascalCase).
type statusJSON struct {
	RequestID          string   `json:"request_id,omitempty"`
	InstanceID         string   `json:"instance_id"`
	Opened             bool     `json:"opened"`
	OpeningTime        string   `json:"opening_time,omitempty"`
	InternetChargeType string   `json:"internet_charge_type"`
	ChangingChargeType string   `json:"changing_charge_type,omitempty"`
	ChangingAffectTime string   `json:"changing_affect_time,omitempty"`
	Locks              []string `json:"locks"`
	FinanciallyLocked  bool     `json:"financially_locked"`
}

func statusView(st apiclient.ServiceStatus) statusJSON {
	return statusJSON{RequestID: st.RequestID, InstanceID: st.InstanceID, Opened: st.OpeningTime != "" || st.InternetChargeType != "",
		OpeningTime: st.OpeningTime, InternetChargeType: st.InternetChargeType, ChangingChargeType: st.ChangingChargeType,
		ChangingAffectTime: st.ChangingAffectTime, Locks: st.Locks(), FinanciallyLocked: st.FinanciallyLocked()}
}

func writeStatus(w io.Writer, title string, st apiclient.ServiceStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s service\t\n", title)
	opened := st.OpeningTime
	if opened == "" && st.InternetChargeType == "" {
		opened = "not opened"
	}
	fmt.Fprintf(tw, "  opened\t%s\n", opened)
	fmt.Fprintf(tw, "  billing\t%s\n", dash(st.InternetChargeType))
	pending := "none"
	if st.ChangingChargeType != "" {
		pending = st.ChangingChargeType + when(parseAPITime(st.ChangingAffectTime))
	}
	fmt.Fprintf(tw, "  pending change\t%s\n", pending)
	locks := "none"
	if l := st.Locks(); len(l) > 0 {
		locks = strings.Join(l, ", ")
		if st.FinanciallyLocked() {
			locks += " (overdue payment: purges and changes are refused until it is paid)"
		}
	}
	fmt.Fprintf(tw, "  locks\t%s\n", locks)
	fmt.Fprintf(tw, "  instance\t%s\n", dash(st.InstanceID))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write service status: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// OpenService opens the CDN service with chargeType and says so on w. An
// account that has the service already is reported as such and is not an
// error.
func OpenService(ctx context.Context, api ServiceAPI, w io.Writer, chargeType string) error {
	if chargeType != apiclient.PayByTraffic && chargeType != apiclient.PayByBandwidth {
		return fmt.Errorf("--charge-type %q: want %s or %s", chargeType, apiclient.PayByTraffic, apiclient.PayByBandwidth)
	}
	opened, rid, err := openService(ctx, api, chargeType)
	if err != nil {
		return err
	}
	if !opened {
		_, err = fmt.Fprintln(w, "CDN service is already opened; nothing changed")
	} else {
		_, err = fmt.Fprintf(w, "CDN service opened, billed by %s (RequestId %s)\n", chargeType, rid)
	}
	return err
}

// SetBilling changes the billing method (see ChangeBilling) and says on w
// what happened and when it takes effect.
func SetBilling(ctx context.Context, api ServiceAPI, w io.Writer, chargeType string) error {
	if chargeType != apiclient.PayByTraffic && chargeType != apiclient.PayByBandwidth {
		return fmt.Errorf("billing method %q: want %s or %s", chargeType, apiclient.PayByTraffic, apiclient.PayByBandwidth)
	}
	r, err := ChangeBilling(ctx, api, chargeType)
	if err != nil {
		return err
	}
	msg := r.Message()
	if r.Skipped {
		msg = "nothing to do: " + msg
	} else if r.RequestID != "" {
		msg += " (RequestId " + r.RequestID + ")"
	}
	_, err = fmt.Fprintln(w, msg)
	return err
}
