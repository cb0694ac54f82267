package embedded

import (
	"testing"
	"time"
)

// The embedded server runs with the sync setting asked for.
func TestEmbeddedSyncSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		setting  string
		interval time.Duration
		always   bool
	}{{"", 2 * time.Minute, false}, {"250ms", 250 * time.Millisecond, false}, {"always", 0, true}} {
		interval, always, err := ParseSyncInterval(tc.setting)
		if err != nil {
			t.Fatal(err)
		}
		ns, _, err := Run(Options{Port: RandomPort, StoreDir: t.TempDir(), SyncInterval: interval, SyncAlways: always})
		if err != nil {
			t.Fatal(err)
		}
		js := ns.JetStreamConfig()
		ns.Shutdown()
		ns.WaitForShutdown()
		if js == nil || js.SyncAlways != tc.always || (!tc.always && js.SyncInterval != tc.interval) {
			t.Errorf("%q: server runs with %+v", tc.setting, js)
		}
	}
	if _, _, err := ParseSyncInterval("sometimes"); err == nil {
		t.Error("sometimes: accepted")
	}
}
