package quota

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints the snapshot for `cdnpurge quota`: one line per kind the
// API reports, with total, remaining and reserved.
func (s Snapshot) WriteTable(w io.Writer) error {
	state := "synced " + s.LastSync.Format(time.RFC3339)
	if !s.Synced {
		state = "not synced yet"
	}
	if s.SyncError != "" {
		state += " (last sync failed: " + s.SyncError + ")"
	}
	if _, err := fmt.Fprintf(w, "account %s, quota day %s, %s\n", s.Account, s.Day, state); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\ttotal\tremaining\treserved\tcommitted\t")
	for _, k := range s.Kinds {
		if k.Total == 0 && k.Remaining == 0 && k.Reserved == 0 && k.Committed == 0 {
			continue // not reported by the API for this account
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", k.Kind, k.Total, k.Remaining, k.Reserved, k.Committed)
	}
	return tw.Flush()
}
