package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
)

// Domain is one entry of the domains allowlist: a host name or a
// *.example.com wildcard, and the product that serves it. In the file it
// is either the name alone (served by CDN) or a mapping:
//
//	domains:
//	  - static.example.com
//	  - {name: "*.app.example.com", product: dcdn}
type Domain struct {
	Name string `yaml:"name" json:"name"`
	// Product is cdn (the default) or dcdn.
	Product apiclient.Product `yaml:"product" json:"product"`
}

// domainMapping is Domain's mapping form, without its MarshalYAML.
type domainMapping struct {
	Name    string            `yaml:"name"`
	Product apiclient.Product `yaml:"product"`
}

// MarshalYAML prints an entry served by CDN as its name alone, as configs
// were written before entries had a product, and any other as a mapping.
func (d Domain) MarshalYAML() (any, error) {
	if d.Product == "" || d.Product == apiclient.ProductCDN {
		return d.Name, nil
	}
	return domainMapping(d), nil
}

var (
	domainType     = reflect.TypeFor[Domain]()
	domainListType = reflect.TypeFor[[]Domain]()
)

// domain decodes one allowlist entry: a name, or a mapping decoded field
// by field (so that unknown keys get their "did you mean").
func (d *decoder) domain(n *yaml.Node, v reflect.Value, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		d.scalar(n, v.FieldByName("Name"), path)
	case yaml.MappingNode:
		d.mapping(n, v, path)
	default:
		d.problem(n, path, "want a host name such as static.example.com, or a mapping such as {name: static.example.com, product: dcdn}; got %s", describeNode(n))
	}
}

// namesAsDomains makes entries served by CDN of names (CDNPURGE_DOMAINS).
func namesAsDomains(names []string) []Domain {
	out := make([]Domain, len(names))
	for i, n := range names {
		out[i] = Domain{Name: n}
	}
	return out
}

// allowlistWithDefaults fills every entry's product and gives the emulator
// its domain when nothing is listed.
func (c *Config) allowlistWithDefaults() []Domain {
	list := slices.Clone(c.Allowlist)
	for i := range list {
		if list[i].Product == "" {
			list[i].Product = apiclient.ProductCDN
		}
	}
	if c.CDN.Emulator && len(list) == 0 {
		list = []Domain{{Name: EmulatorDomain, Product: apiclient.ProductCDN}}
	}
	return list
}

// DomainNames returns the allowlist's names in order, what jobs.Validator
// checks paths against: exact hosts and *.example.com wildcards, whatever
// product serves them.
func (c *Config) DomainNames() []string {
	out := make([]string, len(c.Allowlist))
	for i, d := range c.Allowlist {
		out[i] = d.Name
	}
	return out
}

// Products returns the products that serve the allowlist's domains, each
// once, cdn first (the order of quota.Targets): the targets that need a
// quota mirror and a client.
func (c *Config) Products() []apiclient.Product {
	var out []apiclient.Product
	for _, p := range quota.Targets() {
		for _, d := range c.Allowlist {
			if productOr(d.Product) == p {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func productOr(p apiclient.Product) apiclient.Product {
	if p == "" {
		return apiclient.ProductCDN
	}
	return p
}

// ProductMap tells the product that serves a host (lower case, without
// port, as apiclient.PathDomain returns it), matched as the allowlist lets paths in
// (jobs.Validator.Match): an exact entry first, else the most specific
// wildcard. A host no entry covers is cdn; its paths are refused anyway.
// The zero value and nil say cdn for every host.
type ProductMap struct {
	v        *jobs.Validator
	products []apiclient.Product // by allowlist index
}

// ProductMap builds the lookup from the allowlist, once per process; the error
// is jobs.NewValidator's for a malformed list (which Validate reports).
func (c *Config) ProductMap() (*ProductMap, error) {
	list := c.Allowlist
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: c.DomainNames(), DefaultScheme: "https"})
	if err != nil {
		return nil, err
	}
	m := &ProductMap{v: v, products: make([]apiclient.Product, len(list))}
	for i, d := range list {
		m.products[i] = productOr(d.Product)
	}
	return m, nil
}

// ProductOf returns the product that serves host.
func (m *ProductMap) ProductOf(host string) apiclient.Product {
	if m == nil || m.v == nil {
		return apiclient.ProductCDN
	}
	if i, ok := m.v.Match(strings.ToLower(host)); ok {
		return m.products[i]
	}
	return apiclient.ProductCDN
}

// validateDomains checks each entry's name and product and refuses a name
// listed for two products. It reports whether the list is fit for
// jobs.NewValidator (which checks the names' syntax).
func (c *Config) validateDomains(p *problems) bool {
	ok := true
	products := []string{string(apiclient.ProductCDN), string(apiclient.ProductDCDN)}
	first := map[string]int{}
	for i, d := range c.Allowlist {
		path := "domains[" + strconv.Itoa(i) + "]"
		if p.under(path) {
			ok = false // the file's entry was refused already
			continue
		}
		if strings.TrimSpace(d.Name) == "" {
			p.add(path+".name", "missing: write the host name, such as static.example.com or *.example.com")
			ok = false
			continue
		}
		if pr := productOr(d.Product); !quota.ValidTarget(pr) {
			msg := "%q: want cdn or dcdn"
			if s := didYouMean(string(d.Product), products); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			p.add(path+".product", msg, d.Product)
			ok = false
			continue
		}
		key := strings.ToLower(strings.TrimSpace(d.Name))
		j, seen := first[key]
		if !seen {
			first[key] = i
			continue
		}
		if other := c.Allowlist[j]; productOr(other.Product) != productOr(d.Product) {
			p.add(path, "%q is listed for %s here and for %s at domains[%d]; list each domain once, with the product that serves it",
				d.Name, productOr(d.Product), productOr(other.Product), j)
			ok = false
		}
	}
	return ok
}

// under reports whether a problem was found at path or below it.
func (p problems) under(path string) bool {
	for _, e := range p {
		if e.Field == path || strings.HasPrefix(e.Field, path+".") || strings.HasPrefix(e.Field, path+"[") {
			return true
		}
	}
	return false
}
