package webhooks

import (
	"net/http"
	"strings"
	"testing"
)

// ESA's hostname and purgeall purges empty a whole host or site: a hook
// cannot ask for them, whatever it is allowed otherwise. The answer says
// why and nothing is stored.
func TestGenericHookCannotPurgeAWholeSite(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	for _, ot := range []string{"purgeall", "hostname"} {
		body := []byte(`{"kind":"refresh","refresh":{"object_type":"` + ot + `","paths":["https://static.example.com/"]}}`)
		a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, body)
		if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, "refresh.object_type") || !strings.Contains(a.raw, "only an operator may ask") {
			t.Errorf("%s: answer %d %s, want 422 with the reason", ot, a.status, a.raw)
		}
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("%d jobs stored, want none", n)
	}
}
