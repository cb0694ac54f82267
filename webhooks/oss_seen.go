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
// already stored, shared by every replica.
const DefaultOSSBucket = "cdnpurge-oss"

// DefaultOSSDedupeWindow is how long an OSS event is remembered: longer
// than EventBridge keeps retrying a delivery. A long window is safe
// because an event's identity includes its time (see ossIdentity).
const DefaultOSSDedupeWindow = 24 * time.Hour

// OSSSeen remembers which OSS events were stored, by the key of their
// identity, on every replica.
type OSSSeen interface {
	// Seen reports whether key was marked, and the jobs it was stored in.
	Seen(ctx context.Context, key string) (jobIDs []string, seen bool, err error)
	// Mark records key and its jobs, after they were acknowledged.
	Mark(ctx context.Context, key string, jobIDs []string) error
}

// KVOSSSeen is OSSSeen on a JetStream key-value bucket whose entries
// expire after the dedupe window.
type KVOSSSeen struct {
	kv jetstream.KeyValue
}

// OpenOSSSeen creates the bucket DefaultOSSBucket (or updates its TTL)
// and returns the store; window <= 0 means DefaultOSSDedupeWindow.
func OpenOSSSeen(ctx context.Context, js jetstream.JetStream, replicas int, window time.Duration) (*KVOSSSeen, error) {
	if window <= 0 {
		window = DefaultOSSDedupeWindow
	}
	kv, err := kvjson.Open(ctx, js, DefaultOSSBucket, "cdnpurge: OSS object events already stored, not stored again when redelivered", replicas, window)
	if err != nil {
		return nil, err
	}
	return &KVOSSSeen{kv: kv}, nil
}

// Seen implements OSSSeen.
func (s *KVOSSSeen) Seen(ctx context.Context, key string) ([]string, bool, error) {
	e, err := s.kv.Get(ctx, key)
	switch {
	case err == nil:
		var ids []string
		if v := string(e.Value()); v != "" {
			ids = strings.Split(v, ",")
		}
		return ids, true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("look up oss event: %w", err)
}

// Mark implements OSSSeen.
func (s *KVOSSSeen) Mark(ctx context.Context, key string, jobIDs []string) error {
	if _, err := s.kv.Put(ctx, key, []byte(strings.Join(jobIDs, ","))); err != nil {
		return fmt.Errorf("remember oss event: %w", err)
	}
	return nil
}
