package jobs

import "time"

// State is where a job stands in a status event.
type State string

// Job states reported on Subjects.Status. The worker publishes the later
// ones; producers publish none.
const (
	StateInvalid State = "invalid"
	// StateAccepted: a worker took the job from the queue (first delivery).
	StateAccepted  State = "accepted"
	StateSubmitted State = "submitted"
	StateComplete  State = "complete"
	StateFailed    State = "failed"
	StateRejected  State = "rejected"
	StateDeferred  State = "deferred"
	// StateUntracked: tasks were still unfinished when the worker stopped
	// following them (the tracking deadline passed).
	StateUntracked State = "untracked"
)

// StatusEvent is the JSON body published on Subjects.Status(jobID) and,
// for messages that never became a job, on Subjects.Invalid().
type StatusEvent struct {
	JobID string    `json:"job_id,omitempty"`
	State State     `json:"state"`
	Time  time.Time `json:"time"`
	// Reason says why, for invalid, rejected, failed and deferred.
	Reason   string    `json:"reason,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	// Subject, Stream and Sequence locate the offending message of an
	// invalid report.
	Subject  string `json:"subject,omitempty"`
	Stream   string `json:"stream,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
	// Until is when a deferred job is tried again.
	Until time.Time `json:"until,omitzero"`
	// Paths and TaskIDs are what the worker submitted.
	Paths   []string `json:"paths,omitempty"`
	TaskIDs []string `json:"task_ids,omitempty"`
}
