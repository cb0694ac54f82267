package webhooks

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// Rules map pushes and deploys to cache tags as well as to URLs
// (docs/webhooks.md, "Cache tags"): tags_template renders one tag per
// changed or removed file the rule's files glob matches, tags lists fixed
// tags refreshed on every successful deploy, both on tags_domain, with
// tags_force as the API's Force. The generic hook takes tag jobs in the
// wire format directly (docs/wire-format.md).

// tagPlaceholders are the placeholders of tags_template.
var tagPlaceholders = []string{"{top}", "{dir}", "{name}", "{stem}", "{path}", "{file}", "{repo}", "{branch}"}

// renderTag builds the tag of one file through the rule's tags_template;
// "" when a placeholder it needs is empty (for example {top} of a file at
// the root), which maps the file to no tag.
func (r Rule) renderTag(file, repo, branch string) string {
	rel := strings.TrimPrefix(file, r.StripPrefix)
	top := ""
	if first, rest, ok := strings.Cut(rel, "/"); ok && rest != "" {
		top = first
	}
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	name := path.Base(rel)
	stem := strings.TrimSuffix(name, path.Ext(name))
	values := map[string]string{"{top}": top, "{dir}": dir, "{name}": name, "{stem}": stem, "{path}": rel,
		"{file}": file, "{repo}": repo, "{branch}": branch}
	var pairs []string
	for _, p := range tagPlaceholders {
		if strings.Contains(r.TagsTemplate, p) && values[p] == "" {
			return ""
		}
		pairs = append(pairs, p, values[p])
	}
	return strings.NewReplacer(pairs...).Replace(r.TagsTemplate)
}

// tagGroup is what one tag job shares: the domain and Force.
type tagGroup struct {
	domain string
	force  bool
}

// tagSet collects the tags an event maps to, per domain and Force, and
// the files whose rendered tag is not a valid tag.
type tagSet struct {
	order   []tagGroup
	tags    map[tagGroup][]string
	refused []jobs.Problem
}

func (ts *tagSet) add(g tagGroup, tags ...string) {
	if len(tags) == 0 {
		return
	}
	if ts.tags == nil {
		ts.tags = map[tagGroup][]string{}
	}
	if _, ok := ts.tags[g]; !ok {
		ts.order = append(ts.order, g)
	}
	ts.tags[g] = append(ts.tags[g], tags...)
}

// addFile maps one file of a push through r's tags_template, if any.
func (ts *tagSet) addFile(r Rule, file, repo, branch string) {
	if r.TagsTemplate == "" {
		return
	}
	tag := r.renderTag(file, repo, branch)
	if tag == "" {
		return
	}
	if err := jobs.CheckTag(tag); err != nil {
		ts.refused = append(ts.refused, jobs.Problem{Field: "tags", Path: tag, File: file, Reason: "tags_template of rule " + r.Name + ": " + err.Error()})
		return
	}
	ts.add(tagGroup{r.TagsDomain, r.TagsForce}, tag)
}

// addFixed adds r's fixed tags (a successful deploy).
func (ts *tagSet) addFixed(r Rule) { ts.add(tagGroup{r.TagsDomain, r.TagsForce}, r.Tags...) }

// jobs returns one tag job per domain and Force (split at maxPathsPerJob
// tags), repeats dropped.
func (ts *tagSet) jobs() []*jobs.Job {
	var out []*jobs.Job
	for _, g := range ts.order {
		for _, chunk := range chunks(jobs.Distinct(ts.tags[g])) {
			spec := &jobs.RefreshSpec{Type: jobs.RefreshTypeTag, Domain: g.domain, Tags: chunk}
			if g.force {
				force := true
				spec.Force = &force
			}
			out = append(out, &jobs.Job{Kind: jobs.KindRefresh, Refresh: spec})
		}
	}
	return out
}

// validateTags checks a rule's tag fields (no allowlist: checkRuleTags).
func (r Rule) validateTags() fielderr.List {
	var out fielderr.List
	add := out.Add
	uses := r.TagsTemplate != "" || len(r.Tags) > 0
	switch {
	case uses && r.TagsDomain == "":
		add("tags_domain", "required with tags_template or tags: the configured domain whose cache tags the rule refreshes")
	case !uses && (r.TagsDomain != "" || r.TagsForce):
		add("tags_domain", "tags_domain and tags_force apply to tags_template or tags; set one, or remove them")
	}
	if r.TagsTemplate != "" {
		if r.Files == "" {
			add("tags_template", "maps changed files: set files (a glob) too")
		}
		if err := checkTagTemplate(r.TagsTemplate); err != nil {
			add("tags_template", "%v", err)
		}
	}
	for i, t := range r.Tags {
		if err := jobs.CheckTag(t); err != nil {
			add(fmt.Sprintf("tags[%d]", i), "%q: %v", clip(t, maxEchoValue), err)
		}
	}
	return out
}

// checkTagTemplate refuses unknown placeholders and text a tag cannot
// hold (a template rendered for a sample file must be a valid tag).
func checkTagTemplate(t string) error {
	rest := t
	for _, p := range tagPlaceholders {
		rest = strings.ReplaceAll(rest, p, "x")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%q: unknown placeholder; use %s", clip(t, maxEchoValue), strings.Join(tagPlaceholders, ", "))
	}
	if err := jobs.CheckTag(rest); err != nil {
		return fmt.Errorf("%q: %v", clip(t, maxEchoValue), err)
	}
	return nil
}

// checkRuleTags makes sure each rule's tags_domain is a domain the
// allowlist names exactly, as a tag job needs (jobs.Validator), so that a
// misconfigured rule fails at start and in config check.
func checkRuleTags(rules []Rule, v *jobs.Validator) fielderr.List {
	var errs fielderr.List
	for i, r := range rules {
		if r.TagsDomain == "" {
			continue
		}
		j := &jobs.Job{Version: jobs.WireVersion, ID: "rule", Kind: jobs.KindRefresh,
			Refresh: &jobs.RefreshSpec{Type: jobs.RefreshTypeTag, Domain: r.TagsDomain, Tags: []string{"sample"}}}
		var ve *jobs.ValidationError
		if err := v.Validate(j); errors.As(err, &ve) {
			for _, p := range ve.Problems {
				if p.Field == "refresh.domain" {
					errs.Add(fmt.Sprintf("rules[%d].tags_domain", i), "%s", p.Reason)
				}
			}
		}
	}
	return errs
}
