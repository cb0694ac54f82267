package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

const esaDomains = `domains:
  - static.example.com
  - {name: example.org, product: esa, site: Example.org}
  - {name: "*.example.org", product: esa, site: example.org}
  - {name: shop.example.net, product: esa, site_id: 7096621098}
  - {name: www.example.io, product: esa, site: example.io, site_id: 42}
`

func TestESAEntriesNameTheirSites(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", esaDomains), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.ProductMap()
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]apiclient.Product{
		"static.example.com": apiclient.ProductCDN, "example.org": apiclient.ProductESA,
		"a.example.org": apiclient.ProductESA, "shop.example.net": "esa:7096621098",
	} {
		if got := m.ProductOf(host); got != want {
			t.Errorf("ProductOf(%s) = %s, want %s", host, got, want)
		}
	}
	want := []ESASite{
		{Name: "example.org", Domains: []string{"example.org", "*.example.org"}},
		{ID: 7096621098, Domains: []string{"shop.example.net"}},
		{Name: "example.io", ID: 42, Domains: []string{"www.example.io"}},
	}
	if got := c.ESASites(); !reflect.DeepEqual(got, want) {
		t.Errorf("sites = %+v\nwant %+v", got, want)
	}
	if k := c.ESASites()[1].Key(); k != "7096621098" {
		t.Errorf("key of a site by ID = %q", k)
	}
	if c.CDN.ESAEndpoint != apiclient.ESA().Endpoint {
		t.Errorf("esa endpoint = %q", c.CDN.ESAEndpoint)
	}
}

func TestESAEntriesRoundTripThroughTheDump(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", esaDomains), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(writeFile(t, "again.yaml", "domains:\n"+yamlList(t, c.Allowlist)), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Allowlist, c.Allowlist) {
		t.Errorf("after a round trip %+v\nwant %+v", again.Allowlist, c.Allowlist)
	}
}

func yamlList(t *testing.T, list []Domain) string {
	t.Helper()
	var b strings.Builder
	for _, d := range list {
		v, err := d.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch v := v.(type) {
		case string:
			b.WriteString("  - " + v + "\n")
		case domainMapping:
			b.WriteString("  - {name: \"" + v.Name + "\", product: " + string(v.Product))
			if v.Site != "" {
				b.WriteString(", site: " + v.Site)
			}
			if v.SiteID != 0 {
				b.WriteString(", site_id: " + ESASite{ID: v.SiteID}.Key())
			}
			b.WriteString("}\n")
		}
	}
	return b.String()
}

// config check and serve share Validate: each of these is refused by
// Load (what both call), with the field's path.
func TestESAEntriesRefusedWithTheirPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"no site", "domains:\n  - {name: example.org, product: esa}\n",
			[]string{"domains[0].site: missing: an esa entry names the ESA site", "(line 2)"}},
		{"site on a cdn entry", "domains:\n  - {name: example.org, site: example.org}\n",
			[]string{`domains[0]: site and site_id are for product: esa; "example.org" is served by cdn`}},
		{"site_id on a dcdn entry", "domains:\n  - {name: example.org, product: dcdn, site_id: 3}\n",
			[]string{`domains[0]: site and site_id are for product: esa`}},
		{"name outside its site", "domains:\n  - {name: www.example.com, product: esa, site: example.org}\n",
			[]string{`domains[0].name: "www.example.com" is not within site "example.org"`}},
		{"site is a wildcard", "domains:\n  - {name: a.example.org, product: esa, site: \"*.example.org\"}\n",
			[]string{`domains[0].site: "*.example.org": want the site's name`}},
		{"negative site_id", "domains:\n  - {name: a.example.org, product: esa, site_id: -4}\n",
			[]string{`domains[0].site_id: -4: want the SiteId`}},
		{"site_id not a number", "domains:\n  - {name: a.example.org, product: esa, site_id: abc}\n",
			[]string{`domains[0].site_id`}},
		{"product typo", "domains:\n  - {name: a.example.org, product: eas, site: example.org}\n",
			[]string{`domains[0].product: "eas": want cdn, dcdn or esa (did you mean esa?)`}},
		{"site key typo", "domains:\n  - {name: a.example.org, product: esa, stie: example.org}\n",
			[]string{"domains[0].stie: unknown field; did you mean domains[0].site?"}},
		{"bad esa endpoint", "cdn: {esa_endpoint: \"ftp://esa\"}\ndomains:\n  - {name: a.example.org, product: esa, site: example.org}\n",
			[]string{"cdn.esa_endpoint"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantIn(t, loadErr(t, tc.body, nil), tc.want...)
		})
	}
}

func TestESASitesBecomeTargetsOnceResolved(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", esaDomains), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	want := []apiclient.Product{apiclient.ProductCDN, "esa:7096621098", "esa:42"}
	if got := c.Products(); !reflect.DeepEqual(got, want) {
		t.Errorf("before: products %v, want %v", got, want)
	}
	if missing := c.ResolveESASites(map[string]int64{"other.example": 3}); !reflect.DeepEqual(missing, []string{"example.org"}) {
		t.Errorf("missing = %v", missing)
	}
	if missing := c.ResolveESASites(map[string]int64{"example.org": 5}); len(missing) != 0 {
		t.Errorf("missing = %v", missing)
	}
	want = []apiclient.Product{apiclient.ProductCDN, "esa:5", "esa:7096621098", "esa:42"}
	if got := c.Products(); !reflect.DeepEqual(got, want) {
		t.Errorf("after: products %v, want %v", got, want)
	}
	m, err := c.ProductMap()
	if err != nil {
		t.Fatal(err)
	}
	if p := m.ProductOf("a.example.org"); p != "esa:5" {
		t.Errorf("a.example.org is on %s, want esa:5", p)
	}
}

// A schedule may purge a whole ESA site (the operator's decision, written
// in the config); the same purge from a hook or a publisher is refused.
func TestScheduleMayPurgeAWholeESASite(t *testing.T) {
	t.Parallel()
	body := "domains:\n  - {name: example.org, product: esa, site_id: 7}\nschedules:\n" +
		"  - {name: nightly-wipe, cron: \"0 3 * * *\", action: refresh, object_type: PurgeAll, force: true, paths: [\"https://example.org/\"]}\n"
	if _, err := Load(writeFile(t, "c.yaml", body), env(creds)); err != nil {
		t.Fatalf("a scheduled purgeall is refused: %v", err)
	}
}
