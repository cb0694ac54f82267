package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/kvjson"
)

// ReplayGuard remembers the signatures of accepted signed requests, shared
// by every replica, for as long as their timestamps are acceptable.
type ReplayGuard interface {
	// Remember records key; first is false when the key was already
	// recorded (a replay).
	Remember(ctx context.Context, key string) (first bool, err error)
	// Forget removes key, so that a request refused for a passing reason
	// (the queue was down) can be sent again with the same signature.
	Forget(ctx context.Context, key string) error
}

// ReplayWindow is how long a signature must be remembered: a timestamp is
// accepted from maxSkew in the past to MaxFuture ahead, so a signature can
// be valid for maxSkew+MaxFuture; a minute more covers clock differences
// between replicas.
func ReplayWindow(maxSkew time.Duration) time.Duration {
	return maxSkew + MaxFuture + time.Minute
}

// KVReplayGuard is a ReplayGuard on a JetStream key-value bucket whose
// entries expire after the replay window. A create-only put (KeyValue.Create)
// is atomic in JetStream, so two replicas receiving the same request at
// once cannot both accept it.
type KVReplayGuard struct {
	kv jetstream.KeyValue
}

// OpenReplayGuard creates the bucket (or updates its TTL) and returns the
// guard. bucket "" means DefaultReplayBucket.
func OpenReplayGuard(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, maxSkew time.Duration) (*KVReplayGuard, error) {
	if bucket == "" {
		bucket = DefaultReplayBucket
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	kv, err := kvjson.Open(ctx, js, bucket, "cdnpurge: signatures of accepted signed webhook requests, refused when replayed", replicas, ReplayWindow(maxSkew))
	if err != nil {
		return nil, err
	}
	return &KVReplayGuard{kv: kv}, nil
}

// Remember implements ReplayGuard.
func (g *KVReplayGuard) Remember(ctx context.Context, key string) (bool, error) {
	_, err := g.kv.Create(ctx, key, []byte(time.Now().UTC().Format(time.RFC3339)))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	}
	return false, fmt.Errorf("remember signature: %w", err)
}

// Forget implements ReplayGuard.
func (g *KVReplayGuard) Forget(ctx context.Context, key string) error {
	if err := g.kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("forget signature: %w", err)
	}
	return nil
}
