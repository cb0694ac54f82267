package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// The settle step with fakes: what a batch's outcome does to the message
// of a job whose paths it all holds, and which event the job gets.
func TestSettleStepEndsEachJobByItsOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		o     outcome
		did   string // prefix of the message's one action
		state jobs.State
	}{
		{"accepted: acked, submitted", outcome{kind: accepted, reqID: "r1"}, "ack", jobs.StateSubmitted},
		{"refused: acked, rejected with the reason", outcome{kind: rejected, reason: "InvalidObjectPath.Malformed"}, "ack", jobs.StateRejected},
		{"deferred: handed back with a delay, deferred", outcome{kind: deferred, until: time.Now().Add(30 * time.Second), reason: "no quota"}, "nak ", jobs.StateDeferred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Tracker: TrackerConfig{Disabled: true}}.WithDefaults()
			st := &fakeStatus{}
			l := newLedger(cfg.AckWait, nil, nil)
			s := newSettler(settleParams{cfg: cfg, status: st, ledger: l, log: quietLog(),
				complete: &completer{status: st, log: quietLog()}})
			msg := &fakeMsg{}
			paths := []string{"http://a.example.com/1", "http://a.example.com/2"}
			tj := &takenJob{msg: msg, job: &jobs.Job{ID: "j1", Kind: jobs.KindRefresh}, received: time.Now(), paths: len(paths), outstanding: len(paths)}
			l.take(tj)
			b := newBatch(GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile}, time.Now())
			for _, p := range paths {
				b.add(&entry{path: p, domain: apiclient.PathDomain(p), jobs: []*takenJob{tj}})
			}
			s.settleBatch(context.Background(), b, tc.o)
			did := msg.actions()
			if len(did) != 1 || !strings.HasPrefix(did[0], tc.did) {
				t.Errorf("message actions %q, want one %q", did, tc.did)
			}
			if len(st.events) != 1 || st.events[0].State != tc.state || st.events[0].JobID != "j1" {
				t.Errorf("events %+v, want one %s for j1", st.events, tc.state)
			}
			if left := l.unsettled(); len(left) != 0 {
				t.Errorf("%d jobs still taken after settling", len(left))
			}
		})
	}
}
