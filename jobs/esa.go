package jobs

import (
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// OperatorOnlyType returns why a refresh of object type ot may not arrive
// as a job, or "" when it may. ESA's hostname and purgeall purges empty a
// whole host or site (ESA API reference, "PurgeCaches"): that is an
// operator's decision, made from the CLI with the operator's credentials
// or by a schedule in the config, never by a hook or a message that any
// publisher can send (docs/esa.md).
func OperatorOnlyType(ot string) string {
	t := apiclient.ESAPurgeType(strings.ToLower(strings.TrimSpace(ot)))
	if t == "purge_all" || t == "purge-all" {
		t = apiclient.ESAPurgeAll
	}
	if !apiclient.ESAPurgeType(t).OperatorOnly() {
		return ""
	}
	return "ESA " + string(t) + " purges empty a whole host or site: only an operator may ask for them " +
		"(cdnpurge purge --direct --type " + string(t) + ", or a schedule), never a hook or a queued job"
}
