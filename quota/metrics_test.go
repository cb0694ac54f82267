package quota

import (
	"context"
	"testing"
)

func TestCollectorExportsTheMirror(t *testing.T) {
	t.Parallel()
	src := &fakeSource{q: quotaOf(1000, 900)}
	m := NewMirror(NewMemoryStore(Options{}), src, MirrorConfig{Logger: discardLogger()})
	if err := m.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Reserve(context.Background(), KindURL, 100); err != nil {
		t.Fatal(err)
	}
	got := gather(t, NewCollector(m))
	for name, want := range map[string]float64{
		"cdnpurge_quota_total{kind=url,target=cdn}":     1000,
		"cdnpurge_quota_remaining{kind=url,target=cdn}": 800,
		"cdnpurge_quota_reserved{kind=url,target=cdn}":  100,
		"cdnpurge_quota_store_down{target=cdn}":         0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}
