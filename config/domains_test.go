package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

const mixedDomains = `domains:
  - example.com
  - {name: static.example.com, product: dcdn}
  - name: "*.app.example.com"
    product: dcdn
  - {name: "*.example.com", product: cdn}
  - "*.img.example.com"
`

func TestDomainsTakeBothForms(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", mixedDomains), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	cdn, dcdn := apiclient.ProductCDN, apiclient.ProductDCDN
	want := []Domain{{Name: "example.com", Product: cdn}, {Name: "static.example.com", Product: dcdn}, {Name: "*.app.example.com", Product: dcdn}, {Name: "*.example.com", Product: cdn}, {Name: "*.img.example.com", Product: cdn}}
	if !reflect.DeepEqual(c.Allowlist, want) {
		t.Errorf("allowlist = %+v", c.Allowlist)
	}
	names := []string{"example.com", "static.example.com", "*.app.example.com", "*.example.com", "*.img.example.com"}
	if !slices.Equal(c.DomainNames(), names) || !slices.Equal(c.ValidatorConfig().Domains, names) {
		t.Errorf("names = %q, validator %q", c.DomainNames(), c.ValidatorConfig().Domains)
	}
	if got := c.Products(); !slices.Equal(got, []apiclient.Product{cdn, dcdn}) {
		t.Errorf("products = %v", got)
	}
	if o := c.QuotaOptionsFor(dcdn); o.Target != dcdn || o.Account != c.QuotaOptions().Account || c.QuotaOptions().Target != cdn {
		t.Errorf("quota options: %+v / %+v", o, c.QuotaOptions())
	}
}

func TestProductOfMatchesAsTheAllowlist(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", mixedDomains), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.ProductMap()
	if err != nil {
		t.Fatal(err)
	}
	built, err := (&Config{Allowlist: c.Allowlist}).ProductMap() // not loaded
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]apiclient.Product{
		"example.com":          apiclient.ProductCDN,
		"static.example.com":   apiclient.ProductDCDN, // exact beats *.example.com
		"STATIC.example.com":   apiclient.ProductDCDN,
		"a.static.example.com": apiclient.ProductCDN, // exact covers no subdomain
		"x.app.example.com":    apiclient.ProductDCDN,
		"a.b.app.example.com":  apiclient.ProductDCDN, // any depth
		"app.example.com":      apiclient.ProductCDN,  // *.app.example.com does not cover it; *.example.com does
		"www.example.com":      apiclient.ProductCDN,
		"x.img.example.com":    apiclient.ProductCDN,
		"other.org":            apiclient.ProductCDN, // on no entry
	} {
		for name, got := range map[string]apiclient.Product{
			"loaded": m.ProductOf(host), "built": built.ProductOf(host),
		} {
			if got != want {
				t.Errorf("%s ProductOf(%q) = %s, want %s", name, host, got, want)
			}
		}
	}
	var none *ProductMap
	if none.ProductOf("static.example.com") != apiclient.ProductCDN {
		t.Error("a nil map is not all cdn")
	}
}

func TestOnlyDCDNDomains(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", "domains: [{name: static.example.com, product: dcdn}]\n"), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Products(); !slices.Equal(got, []apiclient.Product{apiclient.ProductDCDN}) {
		t.Errorf("products = %v", got)
	}
}

func TestDomainsErrorsNameTheEntry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"product typo", "domains:\n  - a.example.com\n  - b.example.com\n  - {name: c.example.com, product: dccdn}\n",
			[]string{`domains[2].product: "dccdn": want cdn, dcdn or esa (did you mean dcdn?) (line 4)`}},
		{"product in capitals", "domains:\n  - {name: c.example.com, product: DCDN}\n",
			[]string{`domains[0].product: "DCDN": want cdn, dcdn or esa (did you mean dcdn?) (line 2)`}},
		{"product far off", "domains:\n  - {name: c.example.com, product: akamai}\n",
			[]string{`domains[0].product: "akamai": want cdn, dcdn or esa (line 2)`}},
		{"unknown key", "domains:\n  - a.example.com\n  - name: c.example.com\n    prodcut: dcdn\n",
			[]string{"domains[1].prodcut: unknown field; did you mean domains[1].product? (line 4)"}},
		{"name missing", "domains:\n  - {product: dcdn}\n", []string{"domains[0].name: missing", "(line 2)"}},
		{"entry is a list", "domains:\n  - [a.example.com]\n", []string{"domains[0]: want a host name such as static.example.com, or a mapping", "got a list (line 2)"}},
		{"product is a list", "domains:\n  - {name: a.example.com, product: [dcdn]}\n", []string{"domains[0].product: want a string, got a list (line 2)"}},
		{"one domain, two products", "domains:\n  - static.example.com\n  - other.example.com\n  - {name: Static.Example.com, product: dcdn}\n",
			[]string{`domains[2]: "Static.Example.com" is listed for dcdn here and for cdn at domains[0]; list each domain once`, "(line 4)"}},
		{"bad wildcard in the mapping form", "domains:\n  - {name: \"*.com.\", product: dcdn}\n", []string{"domains: ", `"*.com."`}},
		{"empty product", "domains:\n  - {name: a.example.com, product: \"\"}\n", []string{`domains[0].product: "" is not allowed here`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := loadErr(t, tc.body, nil)
			wantIn(t, got, tc.want...)
			if n := strings.Count(got, "\ndomains"); n != 1 {
				t.Errorf("%d problems with domains, want 1:\n%s", n, got)
			}
		})
	}
}

func TestDomainListedTwiceForOneProductIsAccepted(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, "c.yaml", "domains: [a.example.com, {name: a.example.com, product: cdn}]\n"), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.ProductMap()
	if err != nil || m.ProductOf("a.example.com") != apiclient.ProductCDN {
		t.Errorf("a.example.com is not cdn (%v)", err)
	}
}

func TestPrintedDomainsLoadAgain(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		body string
		want string // in the printed YAML
	}{
		"only cdn prints as plain names": {"domains:\n  - a.example.com\n  - {name: \"*.b.example.com\", product: cdn}\n",
			"domains:\n  - a.example.com\n  - '*.b.example.com'\n"},
		"dcdn prints as a mapping": {mixedDomains,
			"domains:\n  - example.com\n  - name: static.example.com\n    product: dcdn\n  - name: '*.app.example.com'\n    product: dcdn\n  - '*.example.com'\n"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first, err := Load(writeFile(t, "c.yaml", tc.body), env(creds))
			if err != nil {
				t.Fatal(err)
			}
			out, err := first.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("printed:\n%s\nwant it to hold:\n%s", out, tc.want)
			}
			second, err := Load(writeFile(t, "printed.yaml", string(out)), env(creds))
			if err != nil {
				t.Fatalf("printed config does not load: %v\n%s", err, out)
			}
			first.source, second.source = "", ""
			if !reflect.DeepEqual(first, second) {
				t.Errorf("printed config loads differently:\n%s", out)
			}
			js, err := first.JSON()
			if err != nil || !strings.Contains(string(js), `"domains"`) {
				t.Errorf("JSON: %v\n%s", err, js)
			}
		})
	}
}

func TestDomainsFromTheEnvironmentAreCDN(t *testing.T) {
	t.Parallel()
	m := map[string]string{"CDNPURGE_DOMAINS": "a.example.com, *.b.example.com"}
	for k, v := range creds {
		m[k] = v
	}
	c, err := Load(writeFile(t, "c.yaml", mixedDomains), env(m))
	if err != nil {
		t.Fatal(err)
	}
	want := []Domain{{Name: "a.example.com", Product: apiclient.ProductCDN}, {Name: "*.b.example.com", Product: apiclient.ProductCDN}}
	if !reflect.DeepEqual(c.Allowlist, want) || !slices.Equal(c.Products(), []apiclient.Product{apiclient.ProductCDN}) {
		t.Errorf("allowlist %+v, products %v", c.Allowlist, c.Products())
	}
	if !slices.Contains(EnvVars(), "CDNPURGE_DOMAINS") {
		t.Error("CDNPURGE_DOMAINS is not a known variable")
	}
}

// A Config built in code with names only: every entry is CDN's.
func TestAllowlistBuiltInCode(t *testing.T) {
	t.Parallel()
	c := Config{Allowlist: []Domain{{Name: "a.example.com"}, {Name: "*.b.example.com"}}}.WithDefaults()
	if len(c.Allowlist) != 2 || c.Allowlist[1].Product != apiclient.ProductCDN || !slices.Equal(c.DomainNames(), []string{"a.example.com", "*.b.example.com"}) {
		t.Errorf("allowlist %+v, names %q", c.Allowlist, c.DomainNames())
	}
	c.Redis.URL = ""
	if err := c.Validate(); err != nil && strings.Contains(err.Error(), "domains") {
		t.Errorf("validate: %v", err)
	}
}
