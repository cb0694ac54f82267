package worker

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// Free text from producers (a job's source, an operation's action) must
// not become label values: 100 KB sources and made-up actions leave the
// metrics output small, with labels from the fixed sets.
func TestMetricLabelsStayBoundedUnderHostileInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	reg := prometheus.NewRegistry()
	h.metrics = NewMetrics(reg)
	h.metrics.KnownActions("ModifyCdnService", "StopCdnDomain")
	watch := h.watchStatus()
	_, stop := h.runWorker(fastConfig(), "w1")
	defer stop()

	huge := strings.Repeat("x", 100<<10)
	var ids []string
	for i := range 20 {
		id := "hostile-" + itoa(i)
		ids = append(ids, id)
		j := map[string]any{"id": id, "source": huge + itoa(i), "refresh": map[string]any{"paths": []string{"https://example.com/" + itoa(i) + ".js"}}}
		if i%2 == 1 {
			j["source"] = "github:" + huge + itoa(i)
		}
		publishRaw(t, h, h.subjects.Refresh(), j)
	}
	for i := range 20 {
		id := "op-" + itoa(i)
		ids = append(ids, id)
		publishRaw(t, h, h.subjects.Op("x"+itoa(i)), map[string]any{"id": id, "kind": "operation", "source": huge,
			"operation": map[string]any{"action": "Made" + strings.Repeat("Up", 20) + itoa(i)}})
	}
	h.waitFor("every hostile job to be handled", 20*time.Second, func() bool {
		for _, id := range ids {
			last, ok := watch.Last(id)
			if !ok || (last.State != jobs.StateSubmitted && last.State != jobs.StateComplete && last.State != jobs.StateInvalid) {
				return false
			}
		}
		return true
	})

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]map[string]bool{
		"source": {"github": true, "gitlab": true, "generic": true, "cli": true, "nats": true, "schedule": true, "other": true},
		"action": {"ModifyCdnService": true, "StopCdnDomain": true, "other": true, "refresh": true, "push": true},
	}
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&out, f); err != nil {
			t.Fatal(err)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if len(l.GetValue()) > 64 {
					t.Errorf("%s{%s} has a %d-byte value", f.GetName(), l.GetName(), len(l.GetValue()))
				}
				if set, ok := allowed[l.GetName()]; ok {
					if !set[l.GetValue()] {
						t.Errorf("%s{%s=%q}: not in the fixed set", f.GetName(), l.GetName(), l.GetValue())
					}
					seen[f.GetName()+"/"+l.GetValue()] = true
				}
			}
		}
	}
	for _, want := range []string{"cdnpurge_jobs_received_total/other", "cdnpurge_jobs_received_total/github", "cdnpurge_operations_total/other"} {
		if !seen[want] {
			t.Errorf("no series %s; seen %v", want, seen)
		}
	}
	if out.Len() > 32<<10 {
		t.Errorf("metrics output is %d bytes after hostile input, want under 32 KiB", out.Len())
	}
	t.Logf("metrics output: %d bytes after 40 messages with 100 KB sources", out.Len())
}

func publishRaw(t *testing.T, h *harness, subject string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.PublishMsg(h.ctx, &nats.Msg{Subject: subject, Data: b}); err != nil {
		t.Fatalf("publish on %s: %v", subject, err)
	}
}
