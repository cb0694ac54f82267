package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
)

// DefaultOSSBucket is the key-value bucket that remembers the OSS events
// being stored and stored, shared by every replica.
const DefaultOSSBucket = "cdnpurge-oss"

// DefaultOSSDedupeWindow is how long a stored OSS event is remembered:
// longer than EventBridge keeps retrying a delivery. A long window is safe
// because an event's identity includes its time (see ossIdentity).
const DefaultOSSDedupeWindow = 24 * time.Hour

// Timing of claims: a delivery that finds its event claimed by another
// one still storing it waits ossClaimWait for that one to finish; a
// claim older than ossClaimStale is from a delivery that died before it
// finished (a crash), and is taken over.
const (
	ossClaimWait  = 3 * time.Second
	ossClaimStale = 2 * time.Minute
	ossClaimPoll  = 50 * time.Millisecond
)

// OSSClaim is the outcome of claiming an event: this delivery stores it
// (Fresh, Rev to finish or release the claim), an earlier delivery stored
// it in Jobs, or another delivery is storing it now (Busy).
type OSSClaim struct {
	Fresh bool
	Rev   uint64
	Jobs  []string
	Busy  bool
}

// OSSSeen tracks, on every replica, which OSS events are being stored and
// were stored, by the key of their identity, so that concurrent and later
// deliveries of one event store it once.
type OSSSeen interface {
	// Claim takes key for this delivery, or says who has it.
	Claim(ctx context.Context, key string) (OSSClaim, error)
	// Done records that the claim's event is stored in jobIDs.
	Done(ctx context.Context, key string, rev uint64, jobIDs []string) error
	// Release gives up a claim whose event was not stored.
	Release(ctx context.Context, key string, rev uint64) error
}

// KVOSSSeen is OSSSeen on a JetStream key-value bucket whose entries
// expire after the dedupe window. Create and compare-and-set updates are
// atomic in JetStream, so two replicas cannot both claim an event.
type KVOSSSeen struct {
	kv jetstream.KeyValue
	// wait and stale are ossClaimWait and ossClaimStale (tests shorten
	// them).
	wait, stale time.Duration
}

// OpenOSSSeen creates the bucket DefaultOSSBucket (or updates its TTL)
// and returns the store; window <= 0 means DefaultOSSDedupeWindow.
func OpenOSSSeen(ctx context.Context, js jetstream.JetStream, replicas int, window time.Duration) (*KVOSSSeen, error) {
	if window <= 0 {
		window = DefaultOSSDedupeWindow
	}
	kv, err := kvjson.Open(ctx, js, DefaultOSSBucket, "cdnpurge: OSS object events being stored and stored, each stored once", replicas, window)
	if err != nil {
		return nil, err
	}
	return &KVOSSSeen{kv: kv, wait: ossClaimWait, stale: ossClaimStale}, nil
}

const (
	ossPending = "pending"
	ossDone    = "done:"
)

// Claim implements OSSSeen.
func (s *KVOSSSeen) Claim(ctx context.Context, key string) (OSSClaim, error) {
	deadline := time.Now().Add(s.wait)
	for {
		rev, err := s.kv.Create(ctx, key, []byte(ossPending))
		if err == nil {
			return OSSClaim{Fresh: true, Rev: rev}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return OSSClaim{}, fmt.Errorf("claim oss event: %w", err)
		}
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			continue // released meanwhile
		case err != nil:
			return OSSClaim{}, fmt.Errorf("look up oss event: %w", err)
		}
		if ids, ok := strings.CutPrefix(string(e.Value()), ossDone); ok {
			var jobs []string
			if ids != "" {
				jobs = strings.Split(ids, ",")
			}
			return OSSClaim{Jobs: jobs}, nil
		}
		if time.Since(e.Created()) > s.stale {
			if rev, err := s.kv.Update(ctx, key, []byte(ossPending), e.Revision()); err == nil {
				return OSSClaim{Fresh: true, Rev: rev}, nil
			}
			continue // another delivery took it over first
		}
		if time.Now().After(deadline) {
			return OSSClaim{Busy: true}, nil
		}
		select {
		case <-ctx.Done():
			return OSSClaim{}, ctx.Err()
		case <-time.After(ossClaimPoll):
		}
	}
}

// Done implements OSSSeen.
func (s *KVOSSSeen) Done(ctx context.Context, key string, rev uint64, jobIDs []string) error {
	if _, err := s.kv.Put(ctx, key, []byte(ossDone+strings.Join(jobIDs, ","))); err != nil {
		return fmt.Errorf("remember oss event: %w", err)
	}
	return nil
}

// Release implements OSSSeen: the claim is deleted unless another
// delivery took it over meanwhile.
func (s *KVOSSSeen) Release(ctx context.Context, key string, rev uint64) error {
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		return fmt.Errorf("release oss event: %w", err)
	}
	return nil
}
