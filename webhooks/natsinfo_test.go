package webhooks

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

func TestNATSServerInfoNamesTheServerInUse(t *testing.T) {
	t.Parallel()
	f := newNATSFixture(t, testConfig())
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewNATSServerInfo(f.nc))
	labels := func() []map[string]string {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]string
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				out = append(out, l)
			}
		}
		return out
	}
	got := labels()
	if len(got) != 1 || got[0]["server"] != f.nats.Server.Name() || got[0]["url"] != f.nc.ConnectedUrlRedacted() {
		t.Fatalf("series = %v, want one naming server %s at %s", got, f.nats.Server.Name(), f.nc.ConnectedUrlRedacted())
	}
	f.nats.Stop()
	jobstest.Eventually(t, "the client notices the server is gone", 10*time.Second, func() bool { return f.nc.Status() != nats.CONNECTED })
	if got := labels(); len(got) != 0 {
		t.Fatalf("while NATS is down: %v, want no series", got)
	}
}
