package webhooks

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// A refused hook's log line names the refused paths (bounded), so an
// operator reading the serve log sees which path a deploy lost.
func TestRefusalLogNamesThePaths(t *testing.T) {
	t.Parallel()
	logs := &jobstest.LogBuffer{}
	f := newFixtureWith(t, testConfig(), func(d *Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	body := []byte(`{"kind":"refresh","refresh":{"paths":["https://not-ours.example.net/app.js"]}}`)
	a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, body)
	if a.status == http.StatusAccepted {
		t.Fatalf("a path of a foreign domain was accepted: %s", a.raw)
	}
	var line string
	for _, l := range strings.Split(logs.Take(), "\n") {
		if strings.Contains(l, `"webhook refused"`) {
			line = l
		}
	}
	if !strings.Contains(line, `"refused_paths":["https://not-ours.example.net/app.js"]`) {
		t.Errorf("refusal log line does not name the path:\n%s", line)
	}
}
