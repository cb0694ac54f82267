package config

import (
	"testing"

	"github.com/cdnpurge/cdnpurge/quota"
)

func TestQuotaSharesAreValidatedByFieldPath(t *testing.T) {
	t.Parallel()
	got := loadErr(t, `domains: [example.com]
quota:
  shares:
    - source: generic:bulk-sync
      share: 50%
    - source: ""
      kind: urls
      share: "0.5"
`, nil)
	wantIn(t, got,
		`quota.shares[1].source: is empty`,
		`quota.shares[1].kind: quota kind "urls"`,
		`quota.shares[1].share: "0.5": write the share as a percentage`)
}

func TestQuotaSharesLoad(t *testing.T) {
	t.Parallel()
	m := map[string]string{}
	for k, v := range creds {
		m[k] = v
	}
	c, err := Load(writeFile(t, "c.yaml", "domains: [example.com]\nquota:\n  shares:\n    - source: generic:bulk-sync\n      share: 50%\n"), env(m))
	if err != nil {
		t.Fatal(err)
	}
	want := []quota.Share{{Source: "generic:bulk-sync", Kind: quota.KindURL, Share: "50%"}}
	if len(c.Quota.Shares) != 1 || c.Quota.Shares[0] != want[0] {
		t.Errorf("shares = %+v, want %+v", c.Quota.Shares, want)
	}
}
