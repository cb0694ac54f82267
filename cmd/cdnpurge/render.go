package main

import (
	"fmt"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota"
)

// The JSON shapes of quota and tasks: snake_case like every other command
// (the API's and the mirror's own field names are PascalCase).

type quotaKindJSON struct {
	Kind      string `json:"kind"`
	Total     int64  `json:"total"`
	Remaining int64  `json:"remaining"`
	Reserved  int64  `json:"reserved"`
	Committed int64  `json:"committed"`
	Expired   int64  `json:"expired"`
}

type quotaJSON struct {
	Account   string          `json:"account"`
	Day       string          `json:"day"`
	Synced    bool            `json:"synced"`
	LastSync  time.Time       `json:"last_sync,omitzero"`
	SyncError string          `json:"sync_error,omitempty"`
	Kinds     []quotaKindJSON `json:"kinds"`
	// Pauses are the pauses of submissions in force (pause.go); absent
	// when NATS could not be asked.
	Pauses []pauseJSON `json:"pauses"`
}

func quotaView(s quota.Snapshot) quotaJSON {
	out := quotaJSON{Account: s.Account, Day: s.Day, Synced: s.Synced, LastSync: s.LastSync, SyncError: s.SyncError, Kinds: []quotaKindJSON{}}
	for _, k := range s.Kinds {
		out.Kinds = append(out.Kinds, quotaKindJSON{Kind: string(k.Kind), Total: k.Total, Remaining: k.Remaining,
			Reserved: k.Reserved, Committed: k.Committed, Expired: k.Expired})
	}
	return out
}

type taskJSON struct {
	TaskID       string `json:"task_id"`
	Status       string `json:"status"`
	Process      string `json:"process"`
	ObjectType   string `json:"object_type"`
	ObjectPath   string `json:"object_path"`
	CreationTime string `json:"creation_time"`
	Description  string `json:"description,omitempty"`
}

func tasksView(list []apiclient.Task) []taskJSON {
	out := make([]taskJSON, 0, len(list))
	for _, t := range list {
		out = append(out, taskJSON{TaskID: t.TaskID, Status: t.Status, Process: t.Process, ObjectType: t.ObjectType,
			ObjectPath: t.ObjectPath, CreationTime: t.CreationTime, Description: t.Description})
	}
	return out
}

// watchResult is the exit of tasks --watch, as for purge --wait: 1 when a
// task failed or was not done when watching ended.
func watchResult(list []apiclient.Task) error {
	failed, open := 0, 0
	for _, t := range list {
		switch {
		case t.Status == apiclient.TaskFailed:
			failed++
		case !t.Done():
			open++
		}
	}
	var err error
	switch {
	case failed > 0:
		err = fmt.Errorf("%s of %d failed", plural(failed, "task"), len(list))
	case open > 0:
		err = unfinishedError{fmt.Errorf("%s of %d not done when watching ended", plural(open, "task"), len(list))}
	default:
		return nil
	}
	// With --output json the error report follows the task list on
	// stdout as a second document.
	return err
}
