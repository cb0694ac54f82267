package apiclient

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient/signer"
)

// The checks below are the rules New applies to Options; the config
// package calls the same functions, so that `cdnpurge config check`
// refuses exactly what New would. Errors name the option by its config
// key relative to the cdn section ("retry.base: ...").

// Validate checks a retry policy after WithDefaults.
func (p RetryPolicy) Validate() error {
	var errs []error
	for _, d := range []struct {
		field string
		v     int64
	}{{"base", int64(p.Base)}, {"max", int64(p.Max)}, {"max_total", int64(p.MaxTotal)}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be > 0 (a Go duration such as 200ms or 10s)", d.field))
		}
	}
	if p.Base > p.Max && p.Max > 0 {
		errs = append(errs, fmt.Errorf("base: %s is more than max (%s)", p.Base, p.Max))
	}
	if p.MaxAttempts < 1 {
		errs = append(errs, errors.New("max_attempts: must be >= 1 (it counts the first attempt)"))
	}
	if p.JitterPercent > 100 {
		errs = append(errs, fmt.Errorf("jitter_percent: %d: want 0-100", p.JitterPercent))
	}
	return errors.Join(errs...)
}

// Validate checks a breaker policy after WithDefaults.
func (p BreakerPolicy) Validate() error {
	if p.Threshold < 0 {
		return nil // off
	}
	var errs []error
	if p.Cooldown <= 0 {
		errs = append(errs, errors.New("cooldown: must be > 0 (a Go duration such as 5s)"))
	}
	if p.MaxCooldown < p.Cooldown {
		errs = append(errs, fmt.Errorf("max_cooldown: %s is less than cooldown (%s)", p.MaxCooldown, p.Cooldown))
	}
	return errors.Join(errs...)
}

// checkRateShare refuses a share outside (0,1], NaN included (pacing would
// silently turn off).
func checkRateShare(share float64) error {
	if !(share > 0 && share <= 1) {
		return fmt.Errorf("rate_share: %v: want a share in (0,1], e.g. 0.5 for each of 2 replicas", share)
	}
	return nil
}

// checkRateLimits refuses overrides of unknown actions and values that are
// not finite numbers.
func checkRateLimits(overrides map[string]float64) error {
	known := slices.Sorted(maps.Keys(DefaultRateLimits()))
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		v := overrides[k]
		switch {
		case !slices.Contains(known, k):
			errs = append(errs, fmt.Errorf("rate_limits.%s: unknown API action; want one of %s", k, strings.Join(known, ", ")))
		case math.IsNaN(v) || math.IsInf(v, 0):
			errs = append(errs, fmt.Errorf("rate_limits.%s: %v: want calls per second, or a negative number to turn the limit off", k, v))
		}
	}
	return errors.Join(errs...)
}

// checkEndpoint refuses an endpoint that is not an http(s) URL with a host.
func checkEndpoint(field, s string) error {
	_, err := normEndpoint(field, s, CDN().Endpoint)
	return err
}

// Validate applies New's checks to o (zero values take their defaults),
// each error naming its option. Credentials are not among them: without a
// Provider New checks the static pair itself, and config checks its
// credentials section (which may leave the pair to the default chain).
func (o Options) Validate() error {
	var errs []error
	if o.Signature != "" && o.Signature != signer.V1 && o.Signature != signer.V3 {
		errs = append(errs, fmt.Errorf("signature: %q: want %s (ACS3-HMAC-SHA256, the default) or %s (HMAC-SHA1)", o.Signature, signer.V3, signer.V1))
	}
	if err := checkEndpoint("endpoint", o.Endpoint); err != nil {
		errs = append(errs, err)
	}
	for _, p := range slices.Sorted(maps.Keys(o.Endpoints)) {
		if !slices.ContainsFunc(Targets(), func(t Target) bool { return t.Product == p }) {
			errs = append(errs, fmt.Errorf("endpoints: product %q: not a known target", p))
			continue
		}
		if o.Endpoints[p] == "" {
			continue
		}
		if err := checkEndpoint(string(p)+"_endpoint", o.Endpoints[p]); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Version != "" && o.Version != VersionCurrent && o.Version != VersionLegacy {
		errs = append(errs, fmt.Errorf("version: %q: want %s or %s", o.Version, VersionCurrent, VersionLegacy))
	}
	errs = append(errs, o.Retry.WithDefaults().Validate(), o.Breaker.WithDefaults().Validate(), checkRateLimits(o.RateLimits))
	if o.RateShare != 0 {
		errs = append(errs, checkRateShare(o.RateShare))
	}
	return errors.Join(errs...)
}
