package worker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// A NATS publisher cannot ask for ESA's hostname or purgeall purges (they
// empty a whole host or site): the message is terminated and reported as
// invalid with the reason, and nothing is sent.
func TestWorkerRefusesWholeSitePurgesFromPublishers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	invalid := make(chan jobs.StatusEvent, 10)
	sub, err := h.nc.Subscribe(h.subjects.Invalid(), func(m *nats.Msg) {
		var ev jobs.StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			invalid <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, ot := range []string{"purgeall", "hostname"} {
		body := `{"v":1,"id":"whole-` + ot + `","kind":"refresh","refresh":{"object_type":"` + ot + `","paths":["https://example.com/"]}}`
		if _, err := h.js.Publish(h.ctx, h.subjects.Refresh(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	h.runWorker(fastConfig(), "w1")
	h.waitFor("queue drained", 10*time.Second, h.drained)
	for range 2 {
		select {
		case ev := <-invalid:
			if ev.State != jobs.StateInvalid || !strings.Contains(ev.Reason, "only an operator may ask") {
				t.Fatalf("invalid report %+v, want the operator-only reason", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no invalid report")
		}
	}
	if n := h.emu.Calls(apiclient.CDN().Actions.Refresh); n != 0 {
		t.Fatalf("%d refresh calls, want none", n)
	}
}
