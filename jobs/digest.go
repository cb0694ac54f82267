package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// content is what a job asks the CDN to do: its kind and its section
// (paths, object type, force, area, operation and its parameters). IDs,
// version, source and the time received are not content: a redelivery
// changes none of what is purged.
type content struct {
	Kind      Kind           `json:"kind"`
	Refresh   *RefreshSpec   `json:"refresh,omitempty"`
	Push      *PushSpec      `json:"push,omitempty"`
	Operation *OperationSpec `json:"operation,omitempty"`
}

// ContentDigest returns "sha256:<hex>" over the content of js, in order:
// for each job its kind and its refresh, push or operation section as the
// wire format encodes them. Producers compute it after validation, so
// paths are in their normal form. Two publishes under one idempotency key
// are the same request exactly when their digests are equal.
func ContentDigest(js []*Job) (string, error) {
	cs := make([]content, len(js))
	for i, j := range js {
		cs[i] = content{Kind: j.Kind, Refresh: j.Refresh, Push: j.Push, Operation: j.Operation}
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return "", fmt.Errorf("digest job content: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
