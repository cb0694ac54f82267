package webhooks

import (
	"net/http"
	"strings"
	"testing"
)

// A generic-hook job cannot take a schedule tick's message ID
// (sched-<name>-<tick>): it is refused before anything is stored.
func TestGenericHookRefusesTheSchedulersIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := []byte(`{"id":"sched-night-bandwidth-1795618800","kind":"refresh","refresh":{"paths":["https://static.example.com/a.js"]}}`)
	a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, body)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, "scheduler's") {
		t.Fatalf("answer %d %s, want 422 naming the reserved ID", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("%d jobs stored, want none", n)
	}
}
