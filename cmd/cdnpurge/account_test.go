package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// The quota mirror's Redis keys are named by the AccountId that STS
// returns, not by the AccessKeyId: a rotated key keeps using the same
// mirror, and no key name holds a key ID.
func TestQuotaKeysNamedByAccount(t *testing.T) {
	t.Parallel()
	rdb := quotatest.Redis(t) // fails instead of skipping when CI is set
	ctx := context.Background()
	prefix := quotatest.Prefix(t, rdb)
	srv, env := emulatorEnv(t, cdnemu.Options{AccountID: "5550001", AccessKeyID: "LTAIfirstkey", AccessKeySecret: "first-secret",
		ExtraKeys: map[string]string{"LTAIsecondkey": "second-secret"}})
	env["CDNPURGE_REDIS_URL"] = "redis://127.0.0.1:6379/0"
	env["CDNPURGE_REDIS_KEY_PREFIX"] = prefix
	var seen []string
	for _, pair := range [][2]string{{"LTAIfirstkey", "first-secret"}, {"LTAIsecondkey", "second-secret"}} {
		env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = pair[0]
		env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = pair[1]
		code, out, stderr := runCLIWith(t, env, "", "--log-level", "warn", "quota", "--sync")
		if code != 0 {
			t.Fatalf("quota --sync with %s: code %d: %s%s", pair[0], code, out, stderr)
		}
		keys, err := rdb.Keys(ctx, prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("no keys under %s: %v", prefix, err)
		}
		for _, k := range keys {
			if strings.Contains(k, "LTAI") || !strings.Contains(k, "{5550001}") {
				t.Fatalf("key %s is not named by the account", k)
			}
		}
		// A pace key (an action's next free call slot) lives only until
		// that slot: whether one is left when the command returns
		// depends on timing, not on the key used.
		keys = slices.DeleteFunc(keys, func(k string) bool { return strings.Contains(k, "}:pace:") })
		slices.Sort(keys)
		seen = append(seen, strings.Join(keys, ","))
	}
	if seen[0] != seen[1] {
		t.Fatalf("the rotated key made new keys:\n%s\n%s", seen[0], seen[1])
	}

	// cdn.account_id skips the STS lookup.
	env["CDNPURGE_CDN_ACCOUNT_ID"] = "7770002"
	before := stsCalls(srv)
	if code, out, stderr := runCLIWith(t, env, "", "--log-level", "warn", "quota", "--sync"); code != 0 {
		t.Fatalf("code %d: %s%s", code, out, stderr)
	}
	if stsCalls(srv) != before {
		t.Fatal("GetCallerIdentity was called although cdn.account_id is set")
	}
	if n, _ := rdb.Keys(ctx, prefix+"*{7770002}*").Result(); len(n) == 0 {
		t.Fatal("cdn.account_id does not name the keys")
	}
}

func stsCalls(s *cdnemu.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Action == "GetCallerIdentity" {
			n++
		}
	}
	return n
}
