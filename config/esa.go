package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// ESASite is one ESA site the allowlist names: by name, by SiteId, or both.
// A site named but without an ID gets its SiteId from ListSites at start
// (ESA API reference, "ListSites").
type ESASite struct {
	Name string
	ID   int64
	// Domains are the allowlist entries served through this site.
	Domains []string
}

// Key is how the site is known in keys and labels: its SiteId when given,
// else its name.
func (s ESASite) Key() string {
	if s.ID > 0 {
		return strconv.FormatInt(s.ID, 10)
	}
	return strings.ToLower(s.Name)
}

// ESASites returns the distinct ESA sites of the allowlist in order of
// first mention. Entries with the same site_id, or (without one) the same
// site name, share one site.
func (c *Config) ESASites() []ESASite {
	var out []ESASite
	for _, d := range c.Allowlist {
		if d.Product != apiclient.ProductESA {
			continue
		}
		i := slices.IndexFunc(out, func(s ESASite) bool {
			if d.SiteID > 0 || s.ID > 0 {
				return d.SiteID == s.ID
			}
			return strings.EqualFold(s.Name, d.Site)
		})
		if i < 0 {
			out = append(out, ESASite{Name: strings.ToLower(strings.TrimSpace(d.Site)), ID: d.SiteID})
			i = len(out) - 1
		}
		if out[i].Name == "" {
			out[i].Name = strings.ToLower(strings.TrimSpace(d.Site))
		}
		out[i].Domains = append(out[i].Domains, d.Name)
	}
	return out
}

// ResolveESASites gives every ESA entry named by site alone the SiteId
// ids has for its site's name (lower case), as ListSites found it at
// start; entries with a site_id keep theirs. It returns the sites ids has
// no ID for.
func (c *Config) ResolveESASites(ids map[string]int64) (missing []string) {
	for i := range c.Allowlist {
		d := &c.Allowlist[i]
		if d.Product != apiclient.ProductESA || d.SiteID > 0 {
			continue
		}
		site := strings.ToLower(strings.TrimSpace(d.Site))
		if id := ids[site]; id > 0 {
			d.SiteID = id
		} else if !slices.Contains(missing, site) {
			missing = append(missing, site)
		}
	}
	return missing
}

// validateESASite checks the site fields of allowlist entry d at path: an
// esa entry names its site (site, site_id or both) and lies within it; no
// other entry has site fields. It reports whether d is fine.
func validateESASite(p *problems, path string, d Domain) bool {
	if productOr(d.Product) != apiclient.ProductESA {
		if d.Site != "" || d.SiteID != 0 {
			p.add(path, "site and site_id are for product: esa; %q is served by %s", d.Name, productOr(d.Product))
			return false
		}
		return true
	}
	ok := true
	if d.SiteID < 0 {
		p.add(path+".site_id", "%d: want the SiteId ListSites reports, a positive number", d.SiteID)
		ok = false
	}
	site := strings.ToLower(strings.TrimSpace(d.Site))
	if site == "" && d.SiteID == 0 {
		p.add(path+".site", "missing: an esa entry names the ESA site it belongs to, such as site: example.com (its SiteId is found with ListSites), or gives site_id")
		return false
	}
	if site != "" && (strings.ContainsAny(site, "*/: \t") || !strings.Contains(site, ".")) {
		p.add(path+".site", "%q: want the site's name as the ESA console shows it, such as example.com", d.Site)
		return false
	}
	if site != "" {
		host := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d.Name)), "*.")
		if host != site && !strings.HasSuffix(host, "."+site) {
			p.add(path+".name", "%q is not within site %q: an ESA site serves its own name and the names under it", d.Name, d.Site)
			ok = false
		}
	}
	return ok
}
