package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
	"github.com/cdnpurge/cdnpurge/redact"
)

// DefaultControlBucket is the JetStream key-value bucket holding what
// operators steer across replicas: the pause of all submissions, automatic
// pauses each replica reports, and cancelled jobs.
const DefaultControlBucket = "CDNPURGE_CONTROL"

// Keys of the control bucket.
const (
	pauseKey      = "pause"
	autoPrefix    = "auto."
	cancelPrefix  = "cancel."
	cancelHistory = 14 * 24 * time.Hour
)

// PauseState is one pause: the operator's (`cdnpurge pause`) or one a
// replica found by itself (financial lock, refused credentials).
type PauseState struct {
	// Until is zero for a pause without end (lifted by `cdnpurge resume`).
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason"`
	// By is who paused: "operator:<user>" or "replica:<name>".
	By    string    `json:"by"`
	Since time.Time `json:"since"`
	// Automatic is set on pauses a replica reported.
	Automatic bool `json:"automatic,omitempty"`
}

// Active reports whether the pause holds at now.
func (p PauseState) Active(now time.Time) bool { return p.Until.IsZero() || now.Before(p.Until) }

// Cancel is an operator's cancel of one job.
type Cancel struct {
	JobID string    `json:"job_id"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// Control reads and writes the control bucket.
type Control struct {
	kv jetstream.KeyValue
}

// OpenControl creates or opens the control bucket (file storage). Keys
// expire after 14 days: a cancel is kept as long as a job can wait.
func OpenControl(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Control, error) {
	if bucket == "" {
		bucket = DefaultControlBucket
	}
	kv, err := kvjson.Open(ctx, js, bucket, "cdnpurge operator control: pause, automatic pauses, cancelled jobs", replicas, cancelHistory)
	if err != nil {
		return nil, err
	}
	return &Control{kv: kv}, nil
}

func (c *Control) getJSON(ctx context.Context, key string, v any) (bool, error) {
	_, found, err := kvjson.Get(ctx, c.kv, key, v)
	return found, err
}

func (c *Control) putJSON(ctx context.Context, key string, v any) error {
	_, err := kvjson.Put(ctx, c.kv, key, v)
	return err
}

// Pause pauses all submissions of every replica.
func (c *Control) Pause(ctx context.Context, p PauseState) error {
	p.Automatic = false
	if err := c.putJSON(ctx, pauseKey, p); err != nil {
		return fmt.Errorf("store pause: %w", err)
	}
	return nil
}

// Resume lifts the operator's pause. Automatic pauses end when their
// replica finds the cause gone.
func (c *Control) Resume(ctx context.Context) error {
	if err := c.kv.Purge(ctx, pauseKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("lift pause: %w", err)
	}
	return nil
}

// OperatorPause returns the operator's pause if one holds at now.
func (c *Control) OperatorPause(ctx context.Context, now time.Time) (PauseState, bool, error) {
	var p PauseState
	ok, err := c.getJSON(ctx, pauseKey, &p)
	if err != nil || !ok || !p.Active(now) {
		return PauseState{}, false, err
	}
	return p, true, nil
}

// ReportAuto records (p set) or clears (p nil) the automatic pause of
// replica name, so that operators see it next to their own.
func (c *Control) ReportAuto(ctx context.Context, name string, p *PauseState) error {
	key := autoPrefix + keyID(name)
	if p == nil {
		err := c.kv.Purge(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		return err
	}
	p.Automatic = true
	return c.putJSON(ctx, key, p)
}

// Pauses returns every pause holding at now: the operator's first, then
// the automatic ones.
func (c *Control) Pauses(ctx context.Context, now time.Time) ([]PauseState, error) {
	var out []PauseState
	if p, ok, err := c.OperatorPause(ctx, now); err != nil {
		return nil, err
	} else if ok {
		out = append(out, p)
	}
	keys, err := c.keys(ctx, autoPrefix+"*")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		var p PauseState
		if ok, err := c.getJSON(ctx, k, &p); err == nil && ok && p.Active(now) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (c *Control) keys(ctx context.Context, filter string) ([]string, error) {
	l, err := c.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// CancelJob marks a job cancelled: the worker sends none of its paths not
// yet sent.
func (c *Control) CancelJob(ctx context.Context, cn Cancel) error {
	if err := c.putJSON(ctx, cancelPrefix+keyID(cn.JobID), cn); err != nil {
		return fmt.Errorf("cancel job %s: %w", cn.JobID, err)
	}
	return nil
}

// Cancelled returns the cancel of job id, if any.
func (c *Control) Cancelled(ctx context.Context, id string) (Cancel, bool, error) {
	var cn Cancel
	ok, err := c.getJSON(ctx, cancelPrefix+keyID(id), &cn)
	return cn, ok, err
}

// Cancels lists every cancelled job still remembered.
func (c *Control) Cancels(ctx context.Context) (map[string]Cancel, error) {
	keys, err := c.keys(ctx, cancelPrefix+"*")
	if err != nil {
		return nil, err
	}
	out := map[string]Cancel{}
	for _, k := range keys {
		var cn Cancel
		if ok, err := c.getJSON(ctx, k, &cn); err == nil && ok {
			out[cn.JobID] = cn
		}
	}
	return out, nil
}

// DescribePauses is one line for logs and tables: "paused until ... by
// ...: reason; ...".
func DescribePauses(ps []PauseState) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		s := "by " + redact.Text(p.By)
		if !p.Until.IsZero() {
			s += " until " + p.Until.UTC().Format(time.RFC3339)
		}
		if p.Reason != "" {
			s += ": " + redact.Text(p.Reason)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// BindControl opens the existing control bucket without changing it (see
// kvjson.Bind): the CLI's way in, which needs no right to create buckets.
func BindControl(ctx context.Context, js jetstream.JetStream, bucket string) (*Control, error) {
	if bucket == "" {
		bucket = DefaultControlBucket
	}
	kv, err := kvjson.Bind(ctx, js, bucket)
	if err != nil {
		return nil, err
	}
	return &Control{kv: kv}, nil
}
