package webhooks

import (
	"errors"
	"net/http"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/nats-io/nats.go/jetstream"
)

// A hook without a key of its own costs one JetStream write (the job);
// with an Idempotency-Key the key is claimed too, and reusing it for other
// content is still refused.
func TestOnlyHooksWithAKeyClaimOne(t *testing.T) {
	t.Parallel()
	f := newNATSFixture(t, testConfig())
	bearer := map[string]string{"Authorization": "Bearer " + testBearer}
	a := f.post(t, "/hooks/generic", bearer, []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/one-write.css"]}}`))
	if a.status != http.StatusAccepted {
		t.Fatalf("keyless hook: %d %s", a.status, a.raw)
	}
	if _, err := f.js.KeyValue(t.Context(), queue.DefaultIdempotencyBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("idempotency bucket after a keyless hook: %v, want none (no claim)", err)
	}
	keyed := map[string]string{"Authorization": "Bearer " + testBearer, HeaderIdempotencyKey: "deploy-41"}
	if a := f.post(t, "/hooks/generic", keyed, []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]}}`)); a.status != http.StatusAccepted {
		t.Fatalf("keyed hook: %d %s", a.status, a.raw)
	}
	if a := f.post(t, "/hooks/generic", keyed, []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/b.css"]}}`)); a.status != http.StatusConflict {
		t.Fatalf("reused key, other content: %d %s, want 409", a.status, a.raw)
	}
}
