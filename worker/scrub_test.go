package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// Whatever error text reaches a status event or a pause, the sinks pass
// it through redact.Text: a provider that quotes its answer raw (one not
// built on apiclient's fetchers) leaks no secret and no control byte.
func TestStatusAndPauseScrubErrors(t *testing.T) {
	t.Parallel()
	raw := `credentials: {"SessionToken":"canary-w-1"} access-key-secret: canary-w-2 AccessKeySecret&#61;canary-w-3` + "\x1b[2J\nforged"
	ev := scrubEvent(jobs.StatusEvent{JobID: "j", Reason: raw, Problems: []jobs.Problem{{Field: "refresh.paths[0]", Reason: raw}}})
	p := &pause{}
	p.set(time.Now().Add(time.Minute), raw)
	_, reason := p.get()
	desc := DescribePauses([]PauseState{{By: "operator:x\x1b[1m", Reason: raw}})
	for name, s := range map[string]string{"event": ev.Reason, "problem": ev.Problems[0].Reason, "pause": reason, "pause line": desc} {
		if strings.Contains(s, "canary") || strings.ContainsAny(s, "\x1b\n") {
			t.Errorf("%s: %q", name, s)
		}
	}
}
