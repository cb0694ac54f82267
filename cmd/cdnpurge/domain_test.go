package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// The CLI changes a domain directly, but only a domain on the allowlist:
// the emulator knows victim.org, the config does not list it.
func TestDomainCommandKeepsToTheAllowlist(t *testing.T) {
	t.Parallel()
	srv, env := emulatorEnv(t, cdnemu.Options{Domains: []string{"example.com", "victim.org"}})
	env["CDNPURGE_DOMAINS"] = "example.com"
	code, _, stderr := runCLIWith(t, env, "", "domain", "StopCdnDomain", "DomainName=victim.org")
	if code != 2 || !strings.Contains(stderr, `"victim.org" is not on the domain allowlist`) {
		t.Errorf("off-allowlist domain: code %d stderr %q", code, stderr)
	}
	code, _, stderr = runCLIWith(t, env, "", "domain", "SetReqAuthConfig", "DomainName=example.com,victim.org", "AuthType=no_auth")
	if code != 2 || !strings.Contains(stderr, "victim.org") {
		t.Errorf("list with an off-allowlist domain: code %d stderr %q", code, stderr)
	}
	if n := srv.Calls("StopCdnDomain") + srv.Calls("SetReqAuthConfig"); n != 0 {
		t.Fatalf("%d calls reached the API for domains off the allowlist", n)
	}
	code, _, stderr = runCLIWith(t, env, "", "domain", "SetOptimizeConfig", "DomainName=example.com")
	if code != 2 || !strings.Contains(stderr, "Enable: required") {
		t.Errorf("missing parameter: code %d stderr %q", code, stderr)
	}
	code, out, stderr := runCLIWith(t, env, "", "--log-level", "error", "domain", "StopCdnDomain", "DomainName=example.com")
	if code != 0 || !strings.Contains(out, "StopCdnDomain on example.com done") || srv.DomainStatus("example.com") != "offline" {
		t.Errorf("allowed domain: code %d out %q stderr %q status %s", code, out, stderr, srv.DomainStatus("example.com"))
	}
	code, out, _ = runCLIWith(t, env, "", "domain", "--list")
	if code != 0 || !strings.Contains(out, "ModifyCdnDomain") || strings.Contains(out, "ModifyCdnService") {
		t.Errorf("--list: code %d out %q", code, out)
	}
}

func TestConfigCheckRefusesScheduleOffTheAllowlist(t *testing.T) {
	t.Parallel()
	_, env := emulatorEnv(t, cdnemu.Options{})
	cfg := filepath.Join(t.TempDir(), "cdnpurge.yaml")
	if err := os.WriteFile(cfg, []byte(`domains: [static.example.com]
schedules:
  - name: stop-victim
    cron: "0 3 * * *"
    action: StopCdnDomain
    params: {DomainName: victim.org}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLIWith(t, env, "", "--config", cfg, "config", "check")
	if code != 1 || !strings.Contains(stderr, `schedules[0] (stop-victim).params.DomainName: "victim.org" is not on the domain allowlist`) {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}
