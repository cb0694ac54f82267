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
	// StatePartial: a producer accepted the job with less than its sender
	// asked for; Problems lists the paths refused from the same request
	// and Truncated says when the sender's payload was truncated. Hooks
	// whose senders cannot fix their payload (GitHub, GitLab) report it;
	// the job itself goes on as usual.
	StatePartial State = "partial"
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
	// Until is when the reason a deferred job waits for ends (the quota
	// reset at 00:00 Asia/Shanghai, the domain's 60 s window, the pause's
	// end); zero when it has no known end (a pause until resumed). The
	// worker may look at the job sooner, in case the reason ends early.
	Until time.Time `json:"until,omitzero"`
	// Paths and TaskIDs are what the worker submitted.
	Paths   []string `json:"paths,omitempty"`
	TaskIDs []string `json:"task_ids,omitempty"`
	// TaskTargets names the product of each task of TaskIDs that is not
	// CDN's ("dcdn"); a task not in it is a CDN task.
	TaskTargets map[string]string `json:"task_targets,omitempty"`
	// Action and By are set on the events of an operator's action (pause,
	// resume, cancel, retry): what was done and who did it
	// ("operator:<user>@<host>" from the CLI, "console:<session>" from the
	// console).
	Action string `json:"action,omitempty"`
	By     string `json:"by,omitempty"`
	// Truncated is set on a partial event when the request was a push
	// whose payload did not list everything that changed.
	Truncated *Truncation `json:"truncated,omitempty"`
}

// Truncation describes a push whose payload lists only part of what
// changed (GitLab lists at most 20 commits, GitHub caps its commit and
// changed-file lists), and what was done about it.
type Truncation struct {
	// Reason says how the truncation was detected.
	Reason string `json:"reason"`
	// CommitsListed and CommitsTotal are the commits in the payload and in
	// the push, when the sender says.
	CommitsListed int `json:"commits_listed"`
	CommitsTotal  int `json:"commits_total,omitempty"`
	// Rules says what each rule matching the push did about it.
	Rules []TruncatedRule `json:"rules,omitempty"`
}

// TruncatedRule is what one rule's on_truncated did with a truncated push.
type TruncatedRule struct {
	Rule string `json:"rule"`
	// Action is "refresh" (the rule's on_truncated URLs and directories
	// were queued besides the listed files), "refuse" (nothing of the rule
	// was queued) or "listed" (no on_truncated: only the listed files).
	Action string `json:"action"`
}
