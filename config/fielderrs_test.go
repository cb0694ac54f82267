package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// A bad nkey seed file beside a good credentials file is reported at
// nats.nkey_file, even when its path says "credentials": the field used
// to be picked by looking for that word in the error's text.
func TestNKeyProblemBesideCredsNamesNKeyFile(t *testing.T) {
	t.Parallel()
	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln"
	dir := filepath.Join(t.TempDir(), "credentials")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	good, bad := filepath.Join(dir, "user.creds"), filepath.Join(dir, "user.nk")
	creds := "-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	if err := os.WriteFile(good, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := loadErr(t, "domains: [example.com]\n", map[string]string{"CDNPURGE_NATS_URL": "nats://nats.internal:4222",
		"CDNPURGE_NATS_CREDS_FILE": good, "CDNPURGE_NATS_NKEY_FILE": bad})
	wantIn(t, got, "nats.nkey_file: nkey seed file "+bad+" holds no user seed")
	if strings.Contains(got, "nats.creds_file: nkey seed file") {
		t.Errorf("the seed file's problem is put at nats.creds_file:\n%s", got)
	}
}

// The retry and breaker policies name their fields inside their blocks:
// they used to come out as cdn.base and cdn.max_cooldown.
func TestCDNPolicyProblemsNameTheirBlock(t *testing.T) {
	t.Parallel()
	got := loadErr(t, "domains: [example.com]\ncdn:\n  retry: {base: 2s, max: 1s}\n  breaker: {cooldown: 10s, max_cooldown: 5s}\n", nil)
	wantIn(t, got, "cdn.retry.base: 2s is more than max (1s) (line 3)", "cdn.breaker.max_cooldown: 5s is less than cooldown (10s) (line 4)")
	for _, wrong := range []string{"cdn.base:", "cdn.max_cooldown:"} {
		if strings.Contains(got, wrong) {
			t.Errorf("a policy problem named %s:\n%s", wrong, got)
		}
	}
}

// A metrics path the admin mux cannot serve is one problem at
// metrics.path, though the mux's panic message runs over two lines: the
// second line used to become a problem of its own with no field.
func TestMetricsPathClashIsOneProblem(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	c.Allowlist = []Domain{{Name: "example.com"}}
	c.Admin.Pprof = true
	c.Metrics.Path = "/{a}/pprof/x"
	err := c.Validate()
	probs, ok := err.(Problems)
	if !ok {
		t.Fatalf("Validate = %v, want Problems", err)
	}
	if len(probs) != 1 || probs[0].Field != "metrics.path" || strings.Contains(probs[0].Msg, "\n") {
		t.Fatalf("Validate =\n%v\nwant one problem at metrics.path", err)
	}
}

// Validate reads the config and changes nothing in it (it used to store
// the quota day's zone).
func TestValidateHasNoSideEffects(t *testing.T) {
	t.Parallel()
	c := Config{Allowlist: []Domain{{Name: "example.com"}}, Quota: QuotaConfig{TimeZone: "UTC"}}.WithDefaults()
	before := c
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, c) {
		t.Errorf("Validate changed the config:\n%+v\n---\n%+v", before, c)
	}
}

// The worker's day is the quota's zone from WithDefaults on, not the
// worker package's own default.
func TestWorkerDayFollowsQuotaTimeZone(t *testing.T) {
	t.Parallel()
	c := Config{Quota: QuotaConfig{TimeZone: "UTC"}}.WithDefaults()
	if c.Worker.Location == nil || c.Worker.Location.String() != "UTC" || c.WorkerConfig().Location.String() != "UTC" {
		t.Errorf("worker location = %v, WorkerConfig's %v; want UTC", c.Worker.Location, c.WorkerConfig().Location)
	}
	if d := (Config{}).WithDefaults(); d.Worker.Location.String() != d.Location().String() || d.Location().String() != apiclient.QuotaTimeZone {
		t.Errorf("default worker location = %v, want %s", d.Worker.Location, apiclient.QuotaTimeZone)
	}
}
