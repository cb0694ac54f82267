package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// Terminal and JSON output of `cdnpurge schedules` and `cdnpurge service`;
// the data comes from worker/operations (Rows, ReadService, OpenService,
// ChangeBilling).

// scheduleTable writes rows as an aligned table: name, action, cron and
// zone, next runs, last run and its result.
func scheduleTable(w io.Writer, rows []operations.Row) error {
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
		if at := r.LastRunLocal(); !at.IsZero() {
			last = at.Format("2006-01-02 15:04:05")
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

// oneLine folds s's whitespace into single spaces and cuts it at n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// serviceJSON is a service state in the snake_case every command prints
// (the API's own fields are PascalCase).
type serviceJSON struct {
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

func serviceView(st operations.ServiceState) serviceJSON {
	return serviceJSON{RequestID: st.RequestID, InstanceID: st.InstanceID, Opened: st.Opened(),
		OpeningTime: st.OpeningTime, InternetChargeType: st.InternetChargeType, ChangingChargeType: st.ChangingChargeType,
		ChangingAffectTime: st.ChangingAffectTime, Locks: st.Locks(), FinanciallyLocked: st.FinanciallyLocked()}
}

// writeService writes what `service status` read: as JSON ({"cdn": ...,
// "dcdn_ipa": ...}) when jsonOut, else one block per service.
func writeService(w io.Writer, rep operations.ServiceReport, jsonOut bool) error {
	if jsonOut {
		out := map[string]any{"cdn": serviceView(rep.CDN)}
		if rep.IPA != nil {
			out["dcdn_ipa"] = serviceView(*rep.IPA)
		}
		return writeJSON(w, out)
	}
	if err := serviceBlock(w, "CDN", rep.CDN); err != nil {
		return err
	}
	if rep.IPA != nil {
		return serviceBlock(w, "DCDN IPA", *rep.IPA)
	}
	return nil
}

func serviceBlock(w io.Writer, title string, st operations.ServiceState) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s service\t\n", title)
	opened := st.OpeningTime
	if !st.Opened() {
		opened = "not opened"
	}
	fmt.Fprintf(tw, "  opened\t%s\n", opened)
	fmt.Fprintf(tw, "  billing\t%s\n", dash(st.InternetChargeType))
	pending := "none"
	if st.ChangingChargeType != "" {
		pending = st.ChangingChargeType + effectiveAt(st.ChangeAt)
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

// effectiveAt is " at <UTC> (<Asia/Shanghai>)", the zone billing changes
// follow; "" for the zero time.
func effectiveAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf(" at %s (%s)", t.UTC().Format(time.RFC3339), t.In(quota.DefaultLocation()).Format("2006-01-02 15:04 MST"))
}

// writeOpened says what `service open` did.
func writeOpened(w io.Writer, r operations.OpenResult) error {
	var err error
	if !r.Opened {
		_, err = fmt.Fprintln(w, "CDN service is already opened; nothing changed")
	} else {
		_, err = fmt.Fprintf(w, "CDN service opened, billed by %s (RequestId %s)\n", r.ChargeType, r.RequestID)
	}
	return err
}

// writeBilling says what `service billing` did and when it takes effect.
func writeBilling(w io.Writer, r operations.BillingResult) error {
	msg := r.Message()
	if r.Skipped {
		msg = "nothing to do: " + msg
	} else if r.RequestID != "" {
		msg += " (RequestId " + r.RequestID + ")"
	}
	_, err := fmt.Fprintln(w, msg)
	return err
}
