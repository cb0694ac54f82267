// Package kvjson keeps JSON values in a JetStream key-value bucket, with a
// compare-and-set update that tells a lost race (retried) from a failure
// (returned). The worker's task store, its control bucket and the
// scheduler's state all use it.
package kvjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrContended is returned by Update when other writers won every attempt.
var ErrContended = errors.New("too many concurrent changes; try again")

// attempts bounds Update's compare-and-set retries.
const attempts = 20

// Conflict reports whether err is a lost compare-and-set race: the key
// changed (or was created) since it was read.
func Conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Get reads key into v. found is false (and rev 0) when the key is absent.
// A value that is not JSON of v's shape is an error wrapping ErrDamaged,
// with the entry's revision, so a caller may overwrite it.
func Get(ctx context.Context, kv jetstream.KeyValue, key string, v any) (rev uint64, found bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return e.Revision(), false, fmt.Errorf("decode %s: %w: %w", key, ErrDamaged, err)
	}
	return e.Revision(), true, nil
}

// ErrDamaged marks a stored value that does not decode.
var ErrDamaged = errors.New("stored value is damaged")

// Put writes v under key unconditionally and returns the new revision.
func Put(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	rev, err := kv.Put(ctx, key, b)
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", key, err)
	}
	return rev, nil
}

// Change is what an Update function asks for.
type Change int

// Changes an Update function returns.
const (
	Keep   Change = iota // leave the value as it is
	Write                // store the changed value
	Delete               // delete the key
)

// Update reads key into a fresh T (found says whether it exists; a damaged
// value counts as absent and is overwritten), applies fn and stores what
// fn asks for with compare-and-set on the revision read. A lost race reads
// and applies fn again; any other error is returned. It returns the value
// as fn left it and the revision written (0 for Keep and Delete).
func Update[T any](ctx context.Context, kv jetstream.KeyValue, key string, fn func(v *T, found bool) Change) (T, uint64, error) {
	for attempt := range attempts {
		if attempt > 0 {
			// Lost a race: step back a little, longer each time and by
			// chance, so that writers of one hot key do not keep colliding.
			select {
			case <-ctx.Done():
				var zero T
				return zero, 0, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond) + 1))):
			}
		}
		var v T
		rev, found, err := Get(ctx, kv, key, &v)
		if err != nil && !errors.Is(err, ErrDamaged) {
			return v, 0, err
		}
		if err != nil {
			v = *new(T) // start afresh over the damaged value
		}
		switch fn(&v, found) {
		case Keep:
			return v, 0, nil
		case Delete:
			if rev == 0 {
				return v, 0, nil
			}
			err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
			if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
				return v, 0, nil
			}
		default:
			b, mErr := json.Marshal(&v)
			if mErr != nil {
				return v, 0, fmt.Errorf("encode %s: %w", key, mErr)
			}
			var newRev uint64
			if rev == 0 {
				newRev, err = kv.Create(ctx, key, b)
			} else {
				newRev, err = kv.Update(ctx, key, b, rev)
			}
			if err == nil {
				return v, newRev, nil
			}
		}
		if !Conflict(err) {
			return v, 0, fmt.Errorf("write %s: %w", key, err)
		}
	}
	var zero T
	return zero, 0, fmt.Errorf("update %s: %w", key, ErrContended)
}

// bucketConfig is how cdnpurge keeps state in a bucket: file storage,
// history 1, at least one replica.
func bucketConfig(bucket, description string, replicas int, ttl time.Duration) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: description,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		TTL:         ttl,
	}
}

// Open creates or opens the bucket cdnpurge keeps state in: file storage,
// history 1, at least one replica, and the description and TTL given (an
// existing bucket is updated to them). Errors name the bucket.
func Open(ctx context.Context, js jetstream.JetStream, bucket, description string, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, bucketConfig(bucket, description, replicas, ttl))
	if err != nil {
		return nil, fmt.Errorf("open key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// Bind opens an existing bucket as it is, changing nothing: what a client
// that only reads and writes keys calls, so that it needs no right to
// create or update buckets (cdnpurge serve creates them at start). A
// missing bucket is an error wrapping jetstream.ErrBucketNotFound.
func Bind(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// BindOrCreate binds to the bucket as it is when it exists (see Bind) and
// creates it as Open would when it is missing, never updating one: for
// buckets every producer uses, which only some of them may create. The
// creation is a create request alone, so a producer without the right is
// refused on $JS.API.STREAM.CREATE.KV_<bucket>, which names the cause (the
// bucket does not exist yet). A bucket another client created meanwhile is
// bound. Errors name the bucket; a missing one wraps
// jetstream.ErrBucketNotFound only when creating it failed.
func BindOrCreate(ctx context.Context, js jetstream.JetStream, bucket, description string, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := Bind(ctx, js, bucket)
	if err == nil || !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	kv, err = js.CreateKeyValue(ctx, bucketConfig(bucket, description, replicas, ttl))
	if errors.Is(err, jetstream.ErrBucketExists) {
		return Bind(ctx, js, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("create key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}
