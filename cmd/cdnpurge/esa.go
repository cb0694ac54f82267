package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// emulatorDefaultESASite is the ESA site serve --emulator's account has
// when the config names none, so that an ESA client (the official SDK, a
// script) has a site to talk to beside the CDN domain.
const emulatorDefaultESASite = "example.org"

// emulatorESASites are the ESA sites of the emulated account: the
// config's, each with the SiteId it gives (or one the emulator picks),
// else emulatorDefaultESASite.
func emulatorESASites(cfg *config.Config) []cdnemu.ESASite {
	var out []cdnemu.ESASite
	for _, s := range cfg.ESASites() {
		name := s.Name
		if name == "" {
			// Only a site_id is given: the emulator needs a name; the
			// site's first domain stands in, without a wildcard.
			name = strings.TrimLeft(s.Domains[0], "*.")
		}
		out = append(out, cdnemu.ESASite{Name: name, ID: s.ID})
	}
	if len(out) == 0 {
		out = []cdnemu.ESASite{{Name: emulatorDefaultESASite}}
	}
	return out
}

// resolveESASites finds, with ListSites, the SiteId of every ESA site the
// config names without a site_id, once per process (the client caches
// them), so that each site is a purge target of its own
// (apiclient.ESASiteProduct) with its own quota mirror.
func (s *setup) resolveESASites(ctx context.Context, client *apiclient.Client) error {
	ids := map[string]int64{}
	for _, site := range s.cfg.ESASites() {
		if site.ID > 0 || site.Name == "" {
			continue
		}
		id, err := client.SiteID(ctx, apiclient.ESA(), site.Name)
		if err != nil {
			return fmt.Errorf("domains: %w", err)
		}
		ids[site.Name] = id
	}
	if missing := s.cfg.ResolveESASites(ids); len(missing) > 0 {
		return fmt.Errorf("domains: ESA sites %v have no SiteId", missing)
	}
	return nil
}

// esaTargetsOf narrows the config's targets to t's product: for esa, every
// ESA site of the config (each is a target, "esa:<SiteId>").
func esaTargetsOf(t apiclient.Target, all []apiclient.Product) []apiclient.Product {
	if t.Product != apiclient.ProductESA || t.Site > 0 {
		if t.Site > 0 {
			return []apiclient.Product{apiclient.ESASiteProduct(t.Site)}
		}
		return []apiclient.Product{t.Product}
	}
	var out []apiclient.Product
	for _, p := range all {
		if apiclient.BaseProduct(p) == apiclient.ProductESA {
			out = append(out, p)
		}
	}
	return out
}

// parsePurgeType is purge's --type: the wire's object types, and ESA's
// hostname and purgeall, which only an operator asks for and only from
// this process (--direct): a queued job naming them would be refused by
// every worker (jobs.OperatorOnlyType).
func parsePurgeType(s string, direct bool) (apiclient.ObjectType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case jobs.RefreshTypeTag, "tags", "cachetag":
		return apiclient.ObjectCacheTag, nil
	case "hostname":
		if !direct {
			return "", errors.New("hostname purges empty whole hosts: only from this process, add --direct")
		}
		return apiclient.ObjectHostname, nil
	case "purgeall", "purge-all":
		if !direct {
			return "", errors.New("purgeall empties a whole site: only from this process, add --direct")
		}
		return apiclient.ObjectPurgeAll, nil
	}
	ot, err := apiclient.ParseObjectType(s)
	if err != nil {
		return "", errors.New("want file, directory, regex, exquery (ignoreparams), tag, cachekey, or with --direct hostname or purgeall")
	}
	return ot, nil
}

// headerFlag collects --header NAME=VALUE.
type headerFlag map[string]string

func (h *headerFlag) String() string {
	if h == nil {
		return ""
	}
	parts := make([]string, 0, len(*h))
	for k, v := range *h {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (h *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q: want NAME=VALUE, such as UserGeo=CN", s)
	}
	if *h == nil {
		*h = map[string]string{}
	}
	(*h)[strings.TrimSpace(k)] = v
	return nil
}
