package jobs

import (
	"fmt"
	"strings"
)

// Cache-tag refreshes ride on the refresh kind:
//
//	{"kind":"refresh","refresh":{"type":"tag","domain":"example.com","tags":["home","sku-42"],"force":true}}
//
// The CDN API's "RefreshObjectCacheByCacheTag" (CDN API reference,
// https://www.alibabacloud.com/help/en/cdn/developer-reference/api-cdn-2018-05-10-refreshobjectcachebycachetag)
// takes one DomainName and CacheTag, several tags joined with ",", and
// Force; DCDN's "RefreshDcdnObjectCacheByCacheTag" takes the same
// parameters. Neither page states a tag's character set or length, so
// the rule here is ours: printable ASCII without the separator, as
// tags are set by a response header's comma-separated value.

// RefreshTypeTag is RefreshSpec.Type for a refresh by cache tag.
const RefreshTypeTag = "tag"

// MaxTagLength caps one cache tag, in bytes.
const MaxTagLength = 128

// tagScheme starts the key a tag stands under inside the worker:
// tag://<domain>/<tag>.
const tagScheme = "tag://"

// IsTag reports whether r refreshes cache tags instead of paths.
func (r *RefreshSpec) IsTag() bool { return r != nil && r.Type == RefreshTypeTag }

// TagPath is the key tag of domain stands under wherever the worker
// handles paths (batches, progress, history): "tag://example.com/home".
// Domain of it is domain, so tags batch by domain like URLs.
func TagPath(domain, tag string) string { return tagScheme + domain + "/" + tag }

// TagPaths is TagPath of each tag.
func TagPaths(domain string, tags []string) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = TagPath(domain, t)
	}
	return out
}

// ParseTagPath splits a key made by TagPath; ok is false for anything
// else (a URL).
func ParseTagPath(p string) (domain, tag string, ok bool) {
	rest, ok := strings.CutPrefix(p, tagScheme)
	if !ok {
		return "", "", false
	}
	domain, tag, ok = strings.Cut(rest, "/")
	if !ok || domain == "" || tag == "" {
		return "", "", false
	}
	return domain, tag, true
}

// CheckTag says what is wrong with one cache tag, nil when nothing is.
func CheckTag(t string) error {
	if t == "" {
		return fmt.Errorf("empty tag")
	}
	if len(t) > MaxTagLength {
		return fmt.Errorf("%d bytes, at most %d", len(t), MaxTagLength)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == ',' {
			return fmt.Errorf("a tag cannot hold ',' (the API joins tags with it); give each tag as its own entry")
		}
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("byte 0x%02x at %d: a tag is printable ASCII without spaces", c, i)
		}
	}
	return nil
}

// validateTags checks a tag refresh: the domain must be listed by name on
// the allowlist (the API refuses wildcard domains with
// InvalidExtensiveDomain.ValueNotSupported),
// and every tag must pass CheckTag. It returns the domain lower-cased and
// the tags without repeats.
func (v *Validator) validateTags(r *RefreshSpec, ve *ValidationError) (string, []string) {
	if len(r.Paths) > 0 {
		ve.add("refresh.paths", "", "a tag refresh carries tags, not paths; send paths in a job of their own")
	}
	if r.ObjectType != "" {
		ve.add("refresh.object_type", "", "a tag refresh has no object type; leave it out")
	}
	domain := strings.ToLower(strings.TrimSpace(r.Domain))
	switch {
	case domain == "":
		ve.add("refresh.domain", "", "missing: name the accelerated domain whose tags to refresh, for example static.example.com")
	case strings.HasPrefix(domain, "*."):
		ve.add("refresh.domain", r.Domain, "a wildcard is not a domain the API refreshes tags on; name the host")
	case !validHost(domain):
		ve.add("refresh.domain", r.Domain, "not a valid host name")
	case !v.Allowed(domain):
		ve.add("refresh.domain", r.Domain, fmt.Sprintf("host %q is not on the domain allowlist; add it to the config or fix the name", domain))
	default:
		if _, exact := v.exact[domain]; !exact {
			ve.add("refresh.domain", r.Domain, fmt.Sprintf("host %q is only matched by a wildcard entry, and the API refreshes tags of a configured domain only (not of a wildcard domain); list it by name", domain))
		}
	}
	if len(r.Tags) == 0 {
		ve.add("refresh.tags", "", "no tags; give at least one cache tag")
		return domain, nil
	}
	if len(r.Tags) > v.maxPaths {
		ve.add("refresh.tags", "", fmt.Sprintf("%d tags, at most %d per job; split the job", len(r.Tags), v.maxPaths))
		return domain, nil
	}
	out := make([]string, 0, len(r.Tags))
	seen := make(map[string]bool, len(r.Tags))
	for i, t := range r.Tags {
		if err := CheckTag(t); err != nil {
			ve.add(fmt.Sprintf("refresh.tags[%d]", i), t, err.Error())
			continue
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return domain, out
}
