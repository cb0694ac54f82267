package main

import (
	"fmt"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// The JSON shape of tasks (quota's is in quotatable.go): snake_case like
// every other command (the API's own field names are PascalCase).

type taskJSON struct {
	TaskID       string `json:"task_id"`
	Target       string `json:"target"`
	Status       string `json:"status"`
	Process      string `json:"process"`
	ObjectType   string `json:"object_type"`
	ObjectPath   string `json:"object_path"`
	CreationTime string `json:"creation_time"`
	Description  string `json:"description,omitempty"`
}

func tasksView(list []targetTask) []taskJSON {
	out := make([]taskJSON, 0, len(list))
	for _, t := range list {
		out = append(out, taskJSON{TaskID: t.TaskID, Target: string(t.Target), Status: t.Status, Process: t.Process, ObjectType: t.ObjectType,
			ObjectPath: t.ObjectPath, CreationTime: t.CreationTime, Description: t.Description})
	}
	return out
}

// watchResult is the exit of tasks --watch, as for purge --wait: 1 when a
// task failed or was not done when watching ended.
func watchResult(list []targetTask) error {
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
