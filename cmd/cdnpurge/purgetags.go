package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// parseRefreshType reads purge --type: an API object type, or "tag" for a
// refresh by cache tag.
func parseRefreshType(s string) (apiclient.ObjectType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case jobs.RefreshTypeTag, "tags", "cachetag":
		return apiclient.ObjectCacheTag, nil
	}
	return apiclient.ParseObjectType(s)
}

// normalizeTags checks the domain and every tag of purge --type tag with
// the wire format's own rules (jobs.Validator); it refuses the whole
// request, naming each bad tag, when any is wrong. Duplicates are dropped.
func normalizeTags(v *jobs.Validator, raw []string, req request) (string, []string, error) {
	j := req.job(raw)
	j.ID, j.Version = "cli", jobs.WireVersion
	err := v.Validate(j)
	if err == nil {
		return j.Refresh.Domain, j.Refresh.Tags, nil
	}
	var ve *jobs.ValidationError
	if !errors.As(err, &ve) {
		return "", nil, err
	}
	var lines []string
	var problems []problem
	for _, p := range ve.Problems {
		what := "--domain"
		if strings.HasPrefix(p.Field, "refresh.tags") {
			what = "tag"
			if p.Path != "" {
				what = fmt.Sprintf("tag %q", p.Path)
			}
		}
		lines = append(lines, fmt.Sprintf("  %s: %s", what, p.Reason))
		problems = append(problems, problem{Path: p.Path, Message: p.Reason})
	}
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("  ... and %d more", len(lines)-20))
	}
	return "", nil, &refusedError{problems: problems, msg: fmt.Sprintf("%d problem(s) with %s of %s, nothing sent:\n%s",
		len(ve.Problems), plural(len(raw), "tag"), req.tagDomain, strings.Join(lines, "\n"))}
}
