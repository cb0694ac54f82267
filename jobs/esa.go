package jobs

import (
	"fmt"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient/esa"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// OperatorOnlyType returns why a refresh of object type ot may not arrive
// as a job, or "" when it may. ESA's hostname and purgeall purges empty a
// whole host or site (ESA API reference, "PurgeCaches"): that is an
// operator's decision, made from the CLI with the operator's credentials
// or by a schedule in the config, never by a hook or a message that any
// publisher can send (docs/esa.md).
func OperatorOnlyType(ot string) string {
	t := esa.PurgeType(strings.ToLower(strings.TrimSpace(ot)))
	if t == "purge_all" || t == "purge-all" {
		t = esa.PurgeAll
	}
	if !esa.PurgeType(t).OperatorOnly() {
		return ""
	}
	return "ESA " + string(t) + " purges empty a whole host or site: only an operator may ask for them " +
		"(cdnpurge purge --direct --type " + string(t) + ", or a schedule), never a hook or a queued job"
}

// checkCacheKeyHeaders refuses headers on a refresh that is not CacheKey,
// a CacheKey refresh without headers, and header names or values that are
// empty or hold control characters.
func checkCacheKeyHeaders(ot apiclient.ObjectType, h map[string]string, ve *ValidationError) {
	switch {
	case ot != apiclient.ObjectCacheKey && len(h) > 0:
		ve.add("refresh.headers", "", "headers go with object_type CacheKey only (ESA sites); leave them out")
		return
	case ot == apiclient.ObjectCacheKey && len(h) == 0:
		ve.add("refresh.headers", "", `a CacheKey refresh names the headers its cache key is built from, for example {"UserGeo":"CN"}`)
		return
	}
	for k, v := range h {
		if strings.TrimSpace(k) == "" || strings.ContainsFunc(k+v, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(k)+len(v) > 256 {
			ve.add("refresh.headers", "", fmt.Sprintf("header %q: want a name and a value of printable text, together at most 256 bytes", k))
		}
	}
}

// ValidateOperator is Validate for a job built from the operator's own
// configuration (a schedule's tick, never a message's content): ESA's
// hostname and purgeall purges are allowed there, everything else is
// checked as Validate checks it.
func (v *Validator) ValidateOperator(j *Job) error {
	op := *v
	op.operator = true
	return op.Validate(j)
}
