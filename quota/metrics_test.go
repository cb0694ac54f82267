package quota

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollectorExportsTheMirror(t *testing.T) {
	src := &fakeSource{q: quotaOf(1000, 900)}
	m := NewMirror(NewMemoryStore(Options{}), src, MirrorConfig{})
	if err := m.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve(context.Background(), KindURL, 100); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(m))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range s.GetLabel() {
				name += "/" + l.GetValue()
			}
			if g := s.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"cdnpurge_quota_total/url":     1000,
		"cdnpurge_quota_remaining/url": 800,
		"cdnpurge_quota_reserved/url":  100,
		"cdnpurge_quota_store_down":    0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
