package main

import (
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/config"
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
	for i, s := range cfg.ESASites() {
		name := s.Name
		if name == "" {
			// Only a site_id is given: the emulator needs a name; the
			// site's first domain stands in, without a wildcard.
			name = trimWildcard(s.Domains[0])
			if name == "" {
				name = "site" + string(rune('a'+i%26)) + ".example"
			}
		}
		out = append(out, cdnemu.ESASite{Name: name, ID: s.ID})
	}
	if len(out) == 0 {
		out = []cdnemu.ESASite{{Name: emulatorDefaultESASite}}
	}
	return out
}

func trimWildcard(name string) string {
	for len(name) > 0 && (name[0] == '*' || name[0] == '.') {
		name = name[1:]
	}
	return name
}
