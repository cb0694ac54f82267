package operations

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/suggest"
)

// Actions a schedule may name besides the API actions of KnownActions: they
// become refresh and push jobs that go through the queue, batching and
// quota gate like any other job.
const (
	ActionRefresh = "refresh"
	ActionPush    = "push"
)

// ActionSpec describes one API action a schedule may run: the parameters
// the API requires, the ones it also accepts, and the values some of them
// take.
type ActionSpec struct {
	// Required parameters, spelled as the API spells them.
	Required []string
	// Optional parameters.
	Optional []string
	// Values restricts a parameter to a set of values (compared without
	// regard to case, since the API's examples mix "On" and "on").
	Values map[string][]string
	// Service marks account-level actions (no domain): ModifyCdnService,
	// OpenCdnService.
	Service bool
}

var onOff = []string{"on", "off"}

// domainAction is the common shape of the seed's domain configuration
// actions: DomainName plus the action's own parameters.
func domainAction(required, optional []string, values map[string][]string) ActionSpec {
	return ActionSpec{Required: append([]string{"DomainName"}, required...), Optional: optional, Values: values}
}

// knownActions is the table schedules are checked against at config load.
// Parameters follow the Alibaba Cloud CDN API reference pages of
// ModifyCdnService, the domain configuration actions, StartCdnDomain and
// StopCdnDomain, and the refresh and prefetch actions, with the parameter
// names as the API spells them.
var knownActions = map[string]ActionSpec{
	apiclient.CDN().Actions.ModifyService: {Service: true, Required: []string{"InternetChargeType"},
		Values: map[string][]string{"InternetChargeType": {apiclient.PayByTraffic, apiclient.PayByBandwidth}}},
	apiclient.CDN().Actions.OpenService: {Service: true, Required: []string{"InternetChargeType"},
		Values: map[string][]string{"InternetChargeType": {apiclient.PayByTraffic, apiclient.PayByBandwidth}}},

	"SetOptimizeConfig":     domainAction([]string{"Enable"}, nil, map[string][]string{"Enable": onOff}),
	"SetPageCompressConfig": domainAction([]string{"Enable"}, nil, map[string][]string{"Enable": onOff}),
	"SetIgnoreQueryStringConfig": domainAction([]string{"Enable"}, []string{"HashKeyArgs", "KeepOssArgs"},
		map[string][]string{"Enable": onOff, "KeepOssArgs": onOff}),
	"SetRangeConfig":     domainAction([]string{"Enable"}, nil, map[string][]string{"Enable": onOff}),
	"SetVideoSeekConfig": domainAction([]string{"Enable"}, nil, map[string][]string{"Enable": onOff}),
	"SetSourceHostConfig": domainAction(nil, []string{"BackSrcDomain", "Enable"},
		map[string][]string{"Enable": onOff}),
	"SetErrorPageConfig": domainAction([]string{"PageType"}, []string{"CustomPageUrl"},
		map[string][]string{"PageType": {"default", "charity", "other"}}),
	"SetForceRedirectConfig": domainAction([]string{"RedirectType"}, nil,
		map[string][]string{"RedirectType": {"Off", "Http", "Https"}}),
	"SetRefererConfig": domainAction([]string{"ReferType"}, []string{"ReferList", "AllowEmpty", "DisableAst"},
		map[string][]string{"ReferType": {"block", "allow"}, "AllowEmpty": onOff, "DisableAst": onOff}),
	"SetFileCacheExpiredConfig":    domainAction([]string{"CacheContent", "TTL"}, []string{"Weight"}, nil),
	"SetPathCacheExpiredConfig":    domainAction([]string{"CacheContent", "TTL"}, []string{"Weight"}, nil),
	"ModifyFileCacheExpiredConfig": domainAction([]string{"ConfigID", "CacheContent", "TTL"}, []string{"Weight"}, nil),
	"ModifyPathCacheExpiredConfig": domainAction([]string{"ConfigID", "CacheContent", "TTL"}, []string{"Weight"}, nil),
	"DeleteCacheExpiredConfig": domainAction([]string{"CacheType", "ConfigID"}, nil,
		map[string][]string{"CacheType": {"suffix", "path"}}),
	"SetReqAuthConfig": domainAction([]string{"AuthType"}, []string{"Key1", "Key2", "TimeOut", "AuthRemoteDesc"},
		map[string][]string{"AuthType": {"no_auth", "type_a", "type_b", "type_c"}}),
	"SetHttpHeaderConfig":    domainAction([]string{"HeaderKey", "HeaderValue"}, nil, nil),
	"ModifyHttpHeaderConfig": domainAction([]string{"ConfigID", "HeaderKey", "HeaderValue"}, nil, nil),
	"DeleteHttpHeaderConfig": domainAction([]string{"ConfigID"}, nil, nil),
	"SetDomainServerCertificate": domainAction([]string{"ServerCertificateStatus"},
		[]string{"CertName", "ServerCertificate", "PrivateKey", "Region", "ForceSet"},
		map[string][]string{"ServerCertificateStatus": onOff}),
	"SetIpBlackListConfig": domainAction([]string{"BlockIps"}, nil, nil),
	"SetDynamicConfig": domainAction(nil, []string{"DynamicCacheControl", "DynamicOrigin", "StaticPath", "StaticType", "StaticUri"},
		map[string][]string{"DynamicOrigin": {"http", "https", "follow"}}),
	"ModifyCdnDomain": domainAction(nil, []string{"Sources", "SourceType", "SourcePort", "Priorities", "ResourceGroupId", "TopLevelDomain"}, nil),
	"StartCdnDomain":  domainAction(nil, nil, nil),
	"StopCdnDomain":   domainAction(nil, nil, nil),
}

// Allowlist says whether a host is one of the configured domains;
// *jobs.Validator satisfies it.
type Allowlist interface {
	Allowed(host string) bool
}

// ErrDomainNotAllowed marks an operation whose DomainName is not on the
// domain allowlist (the config's domains).
var ErrDomainNotAllowed = errors.New("domain not on the allowlist")

// CheckDomains returns an error wrapping ErrDomainNotAllowed, starting with
// "DomainName: ", when the DomainName parameter of a domain action (each
// name, when it is a comma-separated list) is not on allow; a nil allow
// allows none. Service actions (no domain) pass.
func CheckDomains(action string, params map[string]string, allow Allowlist) error {
	if err := checkDomainName(action, params, allow); err != nil {
		return fmt.Errorf("DomainName: %w", err)
	}
	return nil
}

// checkDomainName is CheckDomains without the parameter's name.
func checkDomainName(action string, params map[string]string, allow Allowlist) error {
	if spec, ok := knownActions[action]; ok && spec.Service {
		return nil
	}
	raw := params["DomainName"]
	checked := 0
	for _, d := range strings.Split(raw, ",") {
		host := strings.ToLower(strings.TrimSpace(d))
		if host == "" {
			continue
		}
		if allow == nil || !allow.Allowed(host) {
			return fmt.Errorf("%q is not on the domain allowlist (domains in the config); %s may only change configured domains: %w",
				oneLine(d, 80), action, ErrDomainNotAllowed)
		}
		checked++
	}
	if checked == 0 {
		return fmt.Errorf("missing; %s needs one of the configured domains: %w", action, ErrDomainNotAllowed)
	}
	return nil
}

// secretParams are parameters whose values never reach logs or tables.
var secretParams = map[string]bool{"PrivateKey": true, "Key1": true, "Key2": true, "ServerCertificate": true}

// KnownActions returns the names of the API actions a schedule may run, sorted.
func KnownActions() []string {
	out := make([]string, 0, len(knownActions))
	for name := range knownActions {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// LookupAction returns the spec of an API action schedules may run.
func LookupAction(name string) (ActionSpec, bool) {
	s, ok := knownActions[name]
	return s, ok
}

// checkParams returns the problems of params against spec, each at its
// parameter's name ("DomainName").
func checkParams(action string, spec ActionSpec, params map[string]string) fielderr.List {
	var probs fielderr.List
	for _, p := range spec.Required {
		if strings.TrimSpace(params[p]) == "" {
			probs.Add(p, "required by %s", action)
		}
	}
	allowed := append(slices.Clone(spec.Required), spec.Optional...)
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			msg := fmt.Sprintf("not a parameter of %s", action)
			if s := suggestAction(k, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			} else if len(allowed) > 0 {
				msg += fmt.Sprintf(" (it takes %s)", strings.Join(allowed, ", "))
			}
			probs.Add(k, "%s", msg)
			continue
		}
		v := strings.TrimSpace(params[k])
		if want, ok := spec.Values[k]; ok && v != "" && !slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(w, v) }) {
			probs.Add(k, "%q is not a value %s takes; want one of %s", v, action, strings.Join(want, ", "))
		}
	}
	return probs
}

// suggest returns the candidate closest to s when it is close enough to be
// a likely typo, or "".
func suggestAction(s string, candidates []string) string {
	return suggest.Closest(s, candidates, max(2, len(s)/4))
}

// redact returns params with secret values masked, for logs and tables.
func redact(params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		if secretParams[k] && v != "" {
			v = "***"
		}
		out[k] = v
	}
	return out
}
