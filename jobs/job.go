// Package jobs holds the job model of cdnpurge: the wire format producers
// publish, path validation and normalisation, subject names, status events
// and schedule ticks. It imports no NATS package; package jobs/queue
// carries jobs over NATS JetStream.
package jobs

import (
	"fmt"
	"time"
)

// WireVersion is the version of the JSON wire format this package writes.
// Readers accept it and refuse newer versions with a clear error.
const WireVersion = 1

// Kind says what a job asks for.
type Kind string

// Job kinds.
const (
	KindRefresh   Kind = "refresh"
	KindPush      Kind = "push"
	KindOperation Kind = "operation"
)

// Job is one unit of work on the queue. Exactly one of Refresh, Push and
// Operation is set, matching Kind.
type Job struct {
	Version    int       `json:"v"`
	ID         string    `json:"id"`
	Kind       Kind      `json:"kind"`
	Source     string    `json:"source,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	// Priority orders the job's calls when quota or calls are short:
	// high, normal (the default when empty) or low.
	Priority Priority `json:"priority,omitempty"`

	Refresh   *RefreshSpec   `json:"refresh,omitempty"`
	Push      *PushSpec      `json:"push,omitempty"`
	Operation *OperationSpec `json:"operation,omitempty"`
}

// Priority says which jobs go first when quota or calls are short.
type Priority string

// Priorities, most urgent first.
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// Rank orders priorities: high 0, normal (or empty) 1, low 2, and -1 for
// a value that is none of them.
func (p Priority) Rank() int {
	switch p {
	case PriorityHigh:
		return 0
	case PriorityNormal, "":
		return 1
	case PriorityLow:
		return 2
	}
	return -1
}

// ParsePriority checks a priority given as text (config, flags); empty is
// normal.
func ParsePriority(s string) (Priority, error) {
	p := Priority(s)
	if p == "" {
		return PriorityNormal, nil
	}
	if p.Rank() < 0 {
		return "", fmt.Errorf("priority %q: want high, normal or low", s)
	}
	return p, nil
}

// RefreshSpec asks for RefreshObjectCaches.
type RefreshSpec struct {
	Paths []string `json:"paths"`
	// ObjectType is File (default), Directory, Regex or ExQuery.
	ObjectType string `json:"object_type,omitempty"`
	// Force applies to Directory, Regex and ExQuery only.
	Force *bool `json:"force,omitempty"`
}

// PushSpec asks for PushObjectCache (prefetch).
type PushSpec struct {
	Paths []string `json:"paths"`
	// Area is domestic or overseas; empty leaves it to the API.
	Area      string `json:"area,omitempty"`
	L2Preload bool   `json:"l2_preload,omitempty"`
	// WithHeader is a JSON object of headers sent with the prefetch.
	WithHeader   string `json:"with_header,omitempty"`
	QueryHashkey bool   `json:"query_hashkey,omitempty"`
}

// OperationSpec asks for a service or domain configuration call, usually
// from a schedule tick.
type OperationSpec struct {
	// Schedule is the name of the schedule that produced the job, if any.
	Schedule string `json:"schedule,omitempty"`
	// Tick is the scheduled time the job stands for.
	Tick time.Time `json:"tick,omitempty"`
	// Action is the API action, for example ModifyCdnService.
	Action string `json:"action"`
	// Params are the action's parameters as the API names them.
	Params map[string]string `json:"params,omitempty"`
}

// Paths returns the paths of a refresh or push job, nil otherwise.
func (j *Job) Paths() []string {
	switch {
	case j.Refresh != nil:
		return j.Refresh.Paths
	case j.Push != nil:
		return j.Push.Paths
	}
	return nil
}
