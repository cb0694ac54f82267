package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultIdempotencyBucket is the JetStream key-value bucket that binds
// idempotency keys to the content they first carried. Every replica and
// every producer (webhooks, CLI, scheduler, library users) shares it.
const DefaultIdempotencyBucket = "cdnpurge-idem"

// idemMargin keeps a claim alive a little longer than the stream remembers
// its Nats-Msg-Id: the claim is written before the publish, so without the
// margin the stream could still call a message a duplicate after the claim
// that says what it contained has expired.
const idemMargin = time.Minute

// ErrIdempotencyConflict marks a publish refused because its idempotency
// key (a delivery ID, an Idempotency-Key header, a caller-chosen job ID)
// was used inside the duplicate window for different content. Nothing was
// stored; send the new content under a new key.
var ErrIdempotencyConflict = errors.New("idempotency key already used for different content")

// IdempotencyConflictError says which earlier jobs hold a key. It wraps
// ErrIdempotencyConflict.
type IdempotencyConflictError struct {
	// Key is the idempotency key as the producer gave it.
	Key string
	// JobIDs and Kinds describe the jobs stored under the key first.
	JobIDs []string
	Kinds  []jobs.Kind
	// Digest is the content digest of the refused publish, Earlier that of
	// the stored one (see ContentDigest).
	Digest, Earlier string
}

// Error names the key and the earlier jobs.
func (e *IdempotencyConflictError) Error() string {
	return fmt.Sprintf("idempotency key %q was used for different content by job %s inside the duplicate window; nothing was stored, send new content under a new key",
		e.Key, strings.Join(e.JobIDs, ", "))
}

// Unwrap returns ErrIdempotencyConflict.
func (e *IdempotencyConflictError) Unwrap() error { return ErrIdempotencyConflict }

// idemRecord is the value stored under a claimed key.
type idemRecord struct {
	Digest string      `json:"digest"`
	Jobs   []string    `json:"jobs"`
	Kinds  []jobs.Kind `json:"kinds"`
	At     time.Time   `json:"at"`
}

// idemClaim is the outcome of claiming a key: fresh (this publish owns
// it, rev is the revision to release on failure) or a match of an earlier
// claim with the same content (its job IDs are reused).
type idemClaim struct {
	fresh bool
	rev   uint64
	rec   idemRecord
}

// idemStore binds keys to content in a key-value bucket created on first
// use.
type idemStore struct {
	js       jetstream.JetStream
	bucket   string
	ttl      time.Duration
	replicas int

	mu sync.Mutex
	kv jetstream.KeyValue
}

func (s *idemStore) open(ctx context.Context) (jetstream.KeyValue, error) {
	// The lock guards the cache only, never a request: during a leader
	// election a lookup waits for its caller's deadline, and every other
	// hook would wait behind it past its own.
	s.mu.Lock()
	kv := s.kv
	s.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	// Bind to the bucket when it exists, so a producer allowed only to use
	// it (not to create or change it) works; create it otherwise.
	kv, err := kvjson.BindOrCreate(ctx, s.js, s.bucket, "cdnpurge idempotency keys and the digest of the jobs they produced", s.replicas, s.ttl)
	if err != nil {
		return nil, fmt.Errorf("idempotency keys: %w: %w", ErrUnavailable, err)
	}
	return s.keep(kv), nil
}

// keep caches kv unless another caller cached one meanwhile, and returns
// the cached one.
func (s *idemStore) keep(kv jetstream.KeyValue) jetstream.KeyValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv == nil {
		s.kv = kv
	}
	return s.kv
}

// forget drops the cached bucket so that the next claim creates it again
// (a NATS that lost its store).
func (s *idemStore) forget() {
	s.mu.Lock()
	s.kv = nil
	s.mu.Unlock()
}

// idemKey maps any producer key to a valid bucket key.
func idemKey(key string) string { return "k." + jobs.IDFromKey(key) }

// claim binds key to rec unless it is bound already. A key bound to the
// same digest is a match; to another digest, an *IdempotencyConflictError.
func (s *idemStore) claim(ctx context.Context, key string, rec idemRecord) (idemClaim, error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return idemClaim{}, fmt.Errorf("encode idempotency record: %w", err)
	}
	k := idemKey(key)
	for attempt := 0; ; attempt++ {
		kv, err := s.open(ctx)
		if err != nil {
			return idemClaim{}, err
		}
		rev, err := kv.Create(ctx, k, val)
		if err == nil {
			return idemClaim{fresh: true, rev: rev, rec: rec}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			if attempt == 0 && (errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse)) {
				s.forget()
				continue
			}
			return idemClaim{}, fmt.Errorf("claim idempotency key %q: %w: %w", key, ErrUnavailable, err)
		}
		var earlier idemRecord
		rev, found, err := kvjson.Get(ctx, kv, k, &earlier)
		switch {
		case errors.Is(err, kvjson.ErrDamaged):
			return idemClaim{}, fmt.Errorf("idempotency key %q holds an unreadable record (revision %d): %w", key, rev, err)
		case err != nil:
			return idemClaim{}, fmt.Errorf("read idempotency key %q: %w: %w", key, ErrUnavailable, err)
		case !found && attempt == 0:
			continue // expired between the two calls
		case !found:
			return idemClaim{}, fmt.Errorf("read idempotency key %q: %w: %w", key, ErrUnavailable, jetstream.ErrKeyNotFound)
		}
		if earlier.Digest != rec.Digest || len(earlier.Jobs) != len(rec.Jobs) {
			return idemClaim{}, &IdempotencyConflictError{Key: key, JobIDs: earlier.Jobs, Kinds: earlier.Kinds, Digest: rec.Digest, Earlier: earlier.Digest}
		}
		return idemClaim{rec: earlier}, nil
	}
}

// release removes a fresh claim whose jobs were not stored, so that the
// sender may retry with any content.
func (s *idemStore) release(ctx context.Context, key string, c idemClaim) error {
	if !c.fresh {
		return nil
	}
	kv, err := s.open(ctx)
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, idemKey(key), jetstream.LastRevision(c.rev)); err != nil {
		return fmt.Errorf("release idempotency key %q: %w", key, err)
	}
	return nil
}

// OpenIdempotencyBucket creates the idempotency bucket now, or binds to it
// when it exists. serve calls it at start, so that producers, which may
// use the bucket but not create it, find it on their first publish.
func (p *Publisher) OpenIdempotencyBucket(ctx context.Context) error {
	_, err := p.idem.open(ctx)
	return err
}
