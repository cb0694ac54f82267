package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cdnpurge/cdnpurge/quota"
)

// writeQuotaTables prints `cdnpurge quota`: per target a line with the
// account, quota day and sync state, then a line per kind the API
// reports, with total, remaining, reserved and committed.
func writeQuotaTables(w io.Writer, snaps []quota.Snapshot) error {
	for i, s := range snaps {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := writeQuotaTable(w, s); err != nil {
			return err
		}
	}
	return nil
}

func writeQuotaTable(w io.Writer, s quota.Snapshot) error {
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
	fmt.Fprintln(tw, "target\tkind\ttotal\tremaining\treserved\tcommitted\t")
	for _, k := range s.Kinds {
		if k.Total == 0 && k.Remaining == 0 && k.Reserved == 0 && k.Committed == 0 {
			continue // not reported by the API for this account
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", s.Target, k.Kind, k.Total, k.Remaining, k.Reserved, k.Committed)
	}
	return tw.Flush()
}

// The JSON shape of quota: snake_case like every other command (the
// mirror's own field names are PascalCase). The first target (cdn when
// any domain is served by CDN) is the document itself, as before DCDN was
// a target; the others follow in other_targets.

type quotaKindJSON struct {
	Kind      string `json:"kind"`
	Total     int64  `json:"total"`
	Remaining int64  `json:"remaining"`
	Reserved  int64  `json:"reserved"`
	Committed int64  `json:"committed"`
	Expired   int64  `json:"expired"`
}

// quotaTargetJSON is one target's mirror.
type quotaTargetJSON struct {
	Account   string          `json:"account"`
	Target    string          `json:"target"`
	Day       string          `json:"day"`
	Synced    bool            `json:"synced"`
	LastSync  time.Time       `json:"last_sync,omitzero"`
	SyncError string          `json:"sync_error,omitempty"`
	Kinds     []quotaKindJSON `json:"kinds"`
}

type quotaJSON struct {
	quotaTargetJSON
	// OtherTargets are the mirrors of the other products in use (dcdn).
	OtherTargets []quotaTargetJSON `json:"other_targets,omitempty"`
	// Shares are the sources capped by quota.shares, with what each spent
	// of CDN's day; absent when none is configured.
	Shares []shareJSON `json:"shares,omitempty"`
	// Pauses are the pauses of submissions in force (pause.go); absent
	// when NATS could not be asked.
	Pauses []pauseJSON `json:"pauses"`
}

func quotaView(snaps []quota.Snapshot) quotaJSON {
	var out quotaJSON
	for i, s := range snaps {
		t := quotaTargetJSON{Account: s.Account, Target: string(s.Target), Day: s.Day, Synced: s.Synced,
			LastSync: s.LastSync, SyncError: s.SyncError, Kinds: []quotaKindJSON{}}
		for _, k := range s.Kinds {
			t.Kinds = append(t.Kinds, quotaKindJSON{Kind: string(k.Kind), Total: k.Total, Remaining: k.Remaining,
				Reserved: k.Reserved, Committed: k.Committed, Expired: k.Expired})
		}
		if i == 0 {
			out.quotaTargetJSON = t
		} else {
			out.OtherTargets = append(out.OtherTargets, t)
		}
	}
	return out
}

// shareJSON is one quota share's spending today.
type shareJSON struct {
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Share  string `json:"share"`
	Limit  int64  `json:"limit"`
	Used   int64  `json:"used"`
}

func shareView(us []quota.ShareUsage) []shareJSON {
	var out []shareJSON
	for _, u := range us {
		out = append(out, shareJSON{Source: u.Source, Kind: string(u.Kind), Share: u.Percent, Limit: u.Limit, Used: u.Used})
	}
	return out
}

// writeShares prints the quota shares (quota.shares) under the tables:
// per source and kind its share, the units that makes today and what it
// spent. Nothing when none is configured.
func writeShares(w io.Writer, us []quota.ShareUsage) error {
	if len(us) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nshares of cdn's day (quota.shares)"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "source\tkind\tshare\tlimit\tused\t")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t\n", u.Source, u.Kind, u.Percent, u.Limit, u.Used)
	}
	return tw.Flush()
}
