package embedded

import (
	"strings"
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
	}{{"", GroupBackgroundSync, false}, {"250ms", 250 * time.Millisecond, false}, {"always", 0, true}} {
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

// Only a lazy setting carries a risk worth a WARN line; the default
// (group commit) and "always" lose nothing acknowledged.
func TestLazyRisk(t *testing.T) {
	t.Parallel()
	for setting, risky := range map[string]bool{"": false, "always": false, "ALWAYS": false, "1s": true, "2m": true, "nonsense": false} {
		risk := LazyRisk(setting)
		if (risk != "") != risky {
			t.Errorf("%q: risk %q, want one: %v", setting, risk, risky)
		}
		if risky && !strings.Contains(risk, "a host crash") {
			t.Errorf("%q: %q does not say what a host crash loses", setting, risk)
		}
	}
	if !GroupCommit("") || GroupCommit("always") || GroupCommit("1s") {
		t.Error("GroupCommit: only the empty setting groups commits")
	}
}
