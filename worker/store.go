package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
)

// DefaultTaskBucket is the JetStream key-value bucket holding submissions,
// job records and the progress of jobs handed back.
const DefaultTaskBucket = "CDNPURGE_TASKS"

// submission is one accepted API call and the tasks it created, stored
// before its jobs are acknowledged so that following it up survives a
// restart.
type submission struct {
	ID         string `json:"id"`
	Action     Action `json:"action"`
	ObjectType string `json:"object_type,omitempty"`
	// Target is the product whose API took the call; empty is CDN (the
	// records written before DCDN targets existed).
	Target      apiclient.Product `json:"target,omitempty"`
	RequestID   string            `json:"request_id,omitempty"`
	TaskIDs     []string          `json:"task_ids"`
	Jobs        []string          `json:"jobs"`
	Paths       int               `json:"paths"`
	SubmittedAt time.Time         `json:"submitted_at"`
	Status      map[string]string `json:"status,omitempty"`
	Failures    []jobs.Problem    `json:"failures,omitempty"`
	TimedOut    bool              `json:"timed_out,omitempty"`
	Polls       int               `json:"polls"`
	NextPoll    time.Time         `json:"next_poll"`
	LeaseUntil  time.Time         `json:"lease_until,omitzero"`
	Owner       string            `json:"owner,omitempty"`
}

// jobRecord lists the submissions of an acknowledged job still being
// followed up.
type jobRecord struct {
	JobID      string    `json:"job_id"`
	Kind       jobs.Kind `json:"kind"`
	Source     string    `json:"source,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Pending    []string  `json:"pending"`
	TaskIDs    []string  `json:"task_ids"`
	// TaskTargets is the product of each non-CDN task of TaskIDs.
	TaskTargets map[string]string `json:"task_targets,omitempty"`
	Failures    []jobs.Problem    `json:"failures,omitempty"`
	Rejected    []jobs.Problem    `json:"rejected,omitempty"`
	// Untracked is set when a submission's tasks outlived the deadline.
	Untracked   bool      `json:"untracked,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// KVStore keeps submissions, job records and progress in a JetStream
// key-value bucket, shared by every replica.
type KVStore struct {
	kv jetstream.KeyValue
}

// OpenKVStore creates or opens the bucket (file storage, history 1).
func OpenKVStore(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*KVStore, error) {
	if bucket == "" {
		bucket = DefaultTaskBucket
	}
	// Tasks can only be queried for 3 days; nothing here is useful longer.
	kv, err := kvjson.Open(ctx, js, bucket, "cdnpurge submissions and task follow-up", replicas, 4*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return &KVStore{kv: kv}, nil
}

// product is the target whose task API follows s.
func (s *submission) product() apiclient.Product {
	if s.Target == "" {
		return apiclient.ProductCDN
	}
	return s.Target
}

// keyID maps an ID to a key token: job IDs from publishers may hold
// characters a key cannot.
func keyID(id string) string {
	if jobs.ValidToken(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(sum[:12])
}

func subKey(id string) string      { return "sub." + keyID(id) }
func jobKey(id string) string      { return "job." + keyID(id) }
func progressKey(id string) string { return "prog." + keyID(id) }

func (s *KVStore) put(ctx context.Context, key string, v any) (uint64, error) {
	return kvjson.Put(ctx, s.kv, key, v)
}

func (s *KVStore) get(ctx context.Context, key string, v any) (uint64, bool, error) {
	return kvjson.Get(ctx, s.kv, key, v)
}

// putSubmission stores a new or changed submission.
func (s *KVStore) putSubmission(ctx context.Context, sub *submission) error {
	_, err := s.put(ctx, subKey(sub.ID), sub)
	return err
}

// putJob stores a job record.
func (s *KVStore) putJob(ctx context.Context, r *jobRecord) error {
	_, err := s.put(ctx, jobKey(r.JobID), r)
	return err
}

// saveProgress records the paths of a job already accepted by the API, so
// that a redelivery does not send them again.
func (s *KVStore) saveProgress(ctx context.Context, jobID string, paths []string) error {
	_, err := s.put(ctx, progressKey(jobID), paths)
	return err
}

// addProgress records the paths of a job one call accepted, under a key
// of that call's own, so that calls landing at once never overwrite each
// other and a redelivery after a crash sends only what no call took.
func (s *KVStore) addProgress(ctx context.Context, jobID, callID string, paths []string) error {
	_, err := s.put(ctx, progressKey(jobID)+"."+keyID(callID), paths)
	return err
}

// progressKeys lists the per-call progress keys of a job.
func (s *KVStore) progressKeys(ctx context.Context, jobID string) ([]string, error) {
	l, err := s.kv.ListKeysFiltered(ctx, progressKey(jobID)+".*")
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

// loadProgress returns the paths saveProgress and addProgress recorded,
// nil if none.
func (s *KVStore) loadProgress(ctx context.Context, jobID string) ([]string, error) {
	var paths []string
	if _, _, err := s.get(ctx, progressKey(jobID), &paths); err != nil {
		return paths, err
	}
	keys, err := s.progressKeys(ctx, jobID)
	if err != nil {
		return paths, fmt.Errorf("list progress of job %s: %w", jobID, err)
	}
	for _, k := range keys {
		var part []string
		if _, _, err := s.get(ctx, k, &part); err != nil {
			return paths, err
		}
		paths = append(paths, part...)
	}
	return paths, nil
}

// deleteProgress forgets a job's progress once it is acknowledged.
func (s *KVStore) deleteProgress(ctx context.Context, jobID string) error {
	keys, err := s.progressKeys(ctx, jobID)
	if err != nil {
		return err
	}
	for _, k := range append(keys, progressKey(jobID)) {
		if err := s.kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
	}
	return nil
}

// submissionIDs lists the submissions still followed up.
func (s *KVStore) submissionIDs(ctx context.Context) ([]string, error) {
	l, err := s.kv.ListKeysFiltered(ctx, "sub.*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k[len("sub."):])
	}
	return out, nil
}

// claim takes the lease of a submission due for polling: it reads it and,
// if it is due and not leased by someone else, writes it back with a lease
// in one compare-and-set, so that two replicas never poll it at once.
func (s *KVStore) claim(ctx context.Context, id, owner string, now time.Time, lease time.Duration) (*submission, bool, error) {
	claimed := false
	sub, _, err := kvjson.Update(ctx, s.kv, subKey(id), func(sub *submission, found bool) kvjson.Change {
		claimed = false
		if !found || now.Before(sub.NextPoll) || (now.Before(sub.LeaseUntil) && sub.Owner != owner) {
			return kvjson.Keep
		}
		sub.Owner = owner
		sub.LeaseUntil = now.Add(lease)
		claimed = true
		return kvjson.Write
	})
	if err != nil || !claimed {
		return nil, false, err
	}
	return &sub, true, nil
}

// deleteSubmission forgets a finished submission.
func (s *KVStore) deleteSubmission(ctx context.Context, id string) error {
	return s.kv.Purge(ctx, subKey(id))
}

// recordChange is what an updateJob function did to a record.
type recordChange int

const (
	recordUnchanged recordChange = iota // nothing to write
	recordChanged                       // write it back
	recordDone                          // delete it
)

// updateJob applies fn to a job record with compare-and-set, retrying on a
// concurrent change; other failures are returned. A missing (or damaged)
// record is not an error: fn is not called and ok is false.
func (s *KVStore) updateJob(ctx context.Context, jobID string, fn func(*jobRecord) recordChange) (*jobRecord, bool, error) {
	exists := false
	r, _, err := kvjson.Update(ctx, s.kv, jobKey(jobID), func(r *jobRecord, found bool) kvjson.Change {
		exists = found
		if !found {
			return kvjson.Keep
		}
		switch fn(r) {
		case recordUnchanged:
			return kvjson.Keep
		case recordDone:
			return kvjson.Delete
		}
		return kvjson.Write
	})
	if err != nil {
		return nil, false, fmt.Errorf("update job record %s: %w", jobID, err)
	}
	if !exists {
		return nil, false, nil
	}
	return &r, true, nil
}

func doneKey(id string) string { return "done." + keyID(id) }

// putSubmissionDone keeps the outcome of a finished submission whose job
// was not acknowledged yet, for the job to pick up when it is.
func (s *KVStore) putSubmissionDone(ctx context.Context, sub *submission) error {
	_, err := s.put(ctx, doneKey(sub.ID), sub)
	return err
}

// getSubmissionDone returns the outcome putSubmissionDone kept. It stays
// for the other jobs of the submission and expires with the bucket's TTL.
func (s *KVStore) getSubmissionDone(ctx context.Context, id string) (*submission, bool, error) {
	var sub submission
	_, ok, err := s.get(ctx, doneKey(id), &sub)
	if err != nil || !ok {
		return nil, false, err
	}
	return &sub, true, nil
}
