package webhooks

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkAcceptedGenericHooks posts bearer-token generic hooks, one
// unique path each, as the ingest measurement of issue 23 did: without an
// Idempotency-Key (one JetStream write per hook: the publish) and with one
// (two: the key's claim in the idempotency bucket, then the publish). Both
// run in one invocation, so they compare side by side:
//
//	go test -run '^$' -bench AcceptedGenericHooks -benchtime 3s ./webhooks/
func BenchmarkAcceptedGenericHooks(b *testing.B) {
	for _, withKey := range []bool{false, true} {
		name := "no-key"
		if withKey {
			name = "idempotency-key"
		}
		b.Run(name, func(b *testing.B) {
			f := newNATSFixture(b, testConfig())
			run := time.Now().UnixNano()
			benchHooks(b, func(seq int) *http.Request {
				body := fmt.Sprintf(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/b/%d/%d.css"]}}`, run, seq)
				req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/hooks/generic", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testBearer)
				if withKey {
					req.Header.Set(HeaderIdempotencyKey, fmt.Sprintf("bench-%d-%d", run, seq))
				}
				return req
			})
		})
	}
}
