package apiclient

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient/signer"
	"github.com/cdnpurge/cdnpurge/fielderr"
)

// The checks below are the rules New applies to Options; the config
// package calls the same functions, so that `cdnpurge config check`
// refuses exactly what New would. Each problem is a fielderr.Error at the
// option's config key relative to what was checked ("base" of a retry
// policy, "retry.base" of Options); config adds "cdn.".

// Validate checks a retry policy after WithDefaults.
func (p RetryPolicy) Validate() fielderr.List {
	var errs fielderr.List
	for _, d := range []struct {
		field string
		v     int64
	}{{"base", int64(p.Base)}, {"max", int64(p.Max)}, {"max_total", int64(p.MaxTotal)}} {
		if d.v <= 0 {
			errs.Add(d.field, "must be > 0 (a Go duration such as 200ms or 10s)")
		}
	}
	if p.Base > p.Max && p.Max > 0 {
		errs.Add("base", "%s is more than max (%s)", p.Base, p.Max)
	}
	if p.MaxAttempts < 1 {
		errs.Add("max_attempts", "must be >= 1 (it counts the first attempt)")
	}
	if p.JitterPercent > 100 {
		errs.Add("jitter_percent", "%d: want 0-100", p.JitterPercent)
	}
	return errs
}

// Validate checks a breaker policy after WithDefaults.
func (p BreakerPolicy) Validate() fielderr.List {
	if p.Threshold < 0 {
		return nil // off
	}
	var errs fielderr.List
	if p.Cooldown <= 0 {
		errs.Add("cooldown", "must be > 0 (a Go duration such as 5s)")
	}
	if p.MaxCooldown < p.Cooldown {
		errs.Add("max_cooldown", "%s is less than cooldown (%s)", p.MaxCooldown, p.Cooldown)
	}
	return errs
}

// checkRateShare refuses a share outside (0,1], NaN included (pacing would
// silently turn off).
func checkRateShare(share float64) error {
	if !(share > 0 && share <= 1) {
		return fmt.Errorf("%v: want a share in (0,1], e.g. 0.5 for each of 2 replicas", share)
	}
	return nil
}

// checkRateLimits refuses overrides of unknown actions and values that are
// not finite numbers, each at its action's name.
func checkRateLimits(overrides map[string]float64) fielderr.List {
	known := slices.Sorted(maps.Keys(defaultRateLimits()))
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs fielderr.List
	for _, k := range keys {
		v := overrides[k]
		switch {
		case !slices.Contains(known, k):
			errs.Add(k, "unknown API action; want one of %s", strings.Join(known, ", "))
		case math.IsNaN(v) || math.IsInf(v, 0):
			errs.Add(k, "%v: want calls per second, or a negative number to turn the limit off", v)
		}
	}
	return errs
}

// checkEndpoint refuses an endpoint that is not an http(s) URL with a host.
func checkEndpoint(s string) error {
	_, err := endpointURL(s, CDN().Endpoint)
	return err
}

// Validate applies New's checks to o (zero values take their defaults),
// each error naming its option. Credentials are not among them: without a
// Provider New checks the static pair itself, and config checks its
// credentials section (which may leave the pair to the default chain).
func (o Options) Validate() fielderr.List {
	var errs fielderr.List
	if o.Signature != "" && o.Signature != signer.V1 && o.Signature != signer.V3 {
		errs.Add("signature", "%q: want %s (ACS3-HMAC-SHA256, the default) or %s (HMAC-SHA1)", o.Signature, signer.V3, signer.V1)
	}
	if err := checkEndpoint(o.Endpoint); err != nil {
		errs.Add("endpoint", "%v", err)
	}
	for _, p := range slices.Sorted(maps.Keys(o.Endpoints)) {
		if !slices.ContainsFunc(Targets(), func(t Target) bool { return t.Product == p }) {
			errs.Add("endpoints", "product %q: not a known target", p)
			continue
		}
		if o.Endpoints[p] == "" {
			continue
		}
		if err := checkEndpoint(o.Endpoints[p]); err != nil {
			errs.Add(string(p)+"_endpoint", "%v", err)
		}
	}
	if o.Version != "" && o.Version != VersionCurrent && o.Version != versionLegacy {
		errs.Add("version", "%q: want %s or %s", o.Version, VersionCurrent, versionLegacy)
	}
	errs.Append("retry", o.Retry.WithDefaults().Validate())
	errs.Append("breaker", o.Breaker.WithDefaults().Validate())
	errs.Append("rate_limits", checkRateLimits(o.RateLimits))
	if o.RateShare != 0 {
		if err := checkRateShare(o.RateShare); err != nil {
			errs.Add("rate_share", "%v", err)
		}
	}
	return errs
}
