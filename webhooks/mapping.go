package webhooks

import (
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// maxPathsPerJob keeps each job of a large push small; the worker batches
// across jobs anyway.
const maxPathsPerJob = 1000

// changeEvent is a push: files changed on a branch of a repository.
type changeEvent struct {
	source  string // github or gitlab
	repo    string
	branch  string
	changed []string // added and modified
	removed []string
	// invalid are file names that are not valid UTF-8 in the payload, as
	// received; they are refused, never mapped with replaced bytes.
	invalid []string
	// truncated is set when the payload does not list everything the
	// push changed.
	truncated *jobs.Truncation
}

// mapped is what a push maps to: the jobs, the repository file each URL
// came from, the files refused before any URL was built, and what the
// rules did about a truncated payload.
type mapped struct {
	jobs    []*jobs.Job
	fileOf  map[string]string
	refused []jobs.Problem
	// truncated is ev.truncated with the rules' actions; nil when the
	// payload was complete.
	truncated *jobs.Truncation
}

// Actions of a rule on a truncated push (jobs.TruncatedRule.Action).
const (
	truncRefresh = "refresh"
	truncRefuse  = "refuse"
	truncListed  = "listed"
)

func (t *OnTruncated) refresh() []string {
	if t == nil {
		return nil
	}
	return t.Refresh
}

func (t *OnTruncated) refreshDirs() []string {
	if t == nil {
		return nil
	}
	return t.RefreshDirs
}

// deployEvent is a successful deploy: a deployment or a pipeline.
type deployEvent struct {
	source      string
	trigger     string // deployment or pipeline
	repo        string
	ref         string
	environment string
}

// matchGlob matches name against a '/'-separated glob where "**" stands
// for any number of segments; an empty pattern matches everything.
func matchGlob(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

func (r Rule) appliesTo(source, repo string) bool {
	return (r.Source == "" || r.Source == source) && matchGlob(r.Repository, repo)
}

// render builds the URL of one file through the rule's template.
func (r Rule) render(file, repo, branch string) string {
	rel := strings.TrimPrefix(file, r.StripPrefix)
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	fileSegs := strings.Split(file, "/")
	for i, s := range fileSegs {
		fileSegs[i] = url.PathEscape(s)
	}
	return strings.NewReplacer(
		"{path}", strings.Join(segs, "/"),
		"{file}", strings.Join(fileSegs, "/"),
		"{repo}", url.PathEscape(repo),
		"{branch}", url.PathEscape(branch),
	).Replace(r.URLTemplate)
}

// mapChanges turns a push into jobs: a refresh of every changed or removed
// file a rule maps, and a prefetch of changed files where a rule asks.
// When the payload is truncated each matching rule's on_truncated applies:
// its fallback URLs and directories are refreshed too, or the rule maps
// nothing (refuse).
func mapChanges(rules []Rule, ev changeEvent) mapped {
	var refresh, dirs, push []string
	out := mapped{fileOf: map[string]string{}}
	if ev.truncated != nil {
		t := *ev.truncated
		t.Rules = nil
		out.truncated = &t
	}
	refusedFile := map[string]bool{}
	var tags tagSet
	pri := jobs.PriorityLow // raised by each matching rule
	for _, r := range rules {
		if r.Files == "" || !r.appliesTo(ev.source, ev.repo) || !matchGlob(r.Branch, ev.branch) {
			continue
		}
		matched := false
		if out.truncated != nil {
			action := truncListed
			switch {
			case r.OnTruncated != nil && r.OnTruncated.Refuse:
				action = truncRefuse
			case r.OnTruncated != nil:
				action = truncRefresh
				matched = true
				refresh = append(refresh, r.OnTruncated.Refresh...)
				dirs = append(dirs, r.OnTruncated.RefreshDirs...)
			}
			out.truncated.Rules = append(out.truncated.Rules, jobs.TruncatedRule{Rule: r.Name, Action: action})
			if action == truncRefuse {
				continue
			}
		}
		for _, f := range ev.changed {
			if matchGlob(r.Files, f) {
				matched = true
				tags.addFile(r, f, ev.repo, ev.branch)
				if r.URLTemplate == "" {
					continue
				}
				u := r.render(f, ev.repo, ev.branch)
				out.fileOf[u] = f
				refresh = append(refresh, u)
				if r.PrefetchChanged {
					push = append(push, u)
				}
			}
		}
		for _, f := range ev.removed {
			if matchGlob(r.Files, f) {
				matched = true
				tags.addFile(r, f, ev.repo, ev.branch)
				if r.URLTemplate == "" {
					continue
				}
				u := r.render(f, ev.repo, ev.branch)
				out.fileOf[u] = f
				refresh = append(refresh, u)
			}
		}
		for _, f := range ev.invalid {
			// Matched in its decoded form only to tell whether the rule
			// cares; the URL is never built from it.
			if !refusedFile[f] && matchGlob(r.Files, strings.ToValidUTF8(f, "\uFFFD")) {
				refusedFile[f] = true
				out.refused = append(out.refused, jobs.Problem{Field: "file", File: jobs.ShowInvalidUTF8(f), Reason: "file name is not valid UTF-8 in the payload; it was not mapped to a URL"})
			}
		}
		if matched {
			pri = highest(pri, r.Priority)
		}
	}
	for _, chunk := range chunks(jobs.Distinct(refresh)) {
		out.jobs = append(out.jobs, &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: chunk}})
	}
	for _, chunk := range chunks(jobs.Distinct(dirs)) {
		out.jobs = append(out.jobs, &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{ObjectType: "Directory", Paths: chunk}})
	}
	for _, chunk := range chunks(jobs.Distinct(push)) {
		out.jobs = append(out.jobs, &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: chunk}})
	}
	out.jobs = append(out.jobs, tags.jobs()...)
	out.refused = append(out.refused, tags.refused...)
	withPriority(out.jobs, pri)
	return out
}

// mapDeploy turns a successful deploy into the fixed refreshes and
// prefetches of the matching rules.
func mapDeploy(rules []Rule, ev deployEvent) []*jobs.Job {
	var files, dirs, push []string
	var tags tagSet
	pri := jobs.PriorityLow // raised by each matching rule
	for _, r := range rules {
		if !r.appliesTo(ev.source, ev.repo) || !matchGlob(r.Branch, ev.ref) {
			continue
		}
		if len(r.DeployOn) > 0 && !slices.Contains(r.DeployOn, ev.trigger) {
			continue
		}
		if r.Environment != "" && (ev.environment == "" || !matchGlob(r.Environment, ev.environment)) {
			continue
		}
		files = append(files, r.Refresh...)
		dirs = append(dirs, r.RefreshDirs...)
		push = append(push, r.Prefetch...)
		tags.addFixed(r)
		if len(r.Refresh)+len(r.RefreshDirs)+len(r.Prefetch)+len(r.Tags) > 0 {
			pri = highest(pri, r.Priority)
		}
	}
	var out []*jobs.Job
	for _, chunk := range chunks(jobs.Distinct(files)) {
		out = append(out, &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: chunk}})
	}
	for _, chunk := range chunks(jobs.Distinct(dirs)) {
		out = append(out, &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{ObjectType: "Directory", Paths: chunk}})
	}
	for _, chunk := range chunks(jobs.Distinct(push)) {
		out = append(out, &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: chunk}})
	}
	out = append(out, tags.jobs()...)
	withPriority(out, pri)
	return out
}

// withPriority sets p on every job of out (the rules' highest).
func withPriority(out []*jobs.Job, p jobs.Priority) {
	if p == "" || p == jobs.PriorityNormal {
		return
	}
	for _, j := range out {
		j.Priority = p
	}
}

func chunks(in []string) [][]string {
	var out [][]string
	for len(in) > 0 {
		n := min(len(in), maxPathsPerJob)
		out = append(out, in[:n])
		in = in[n:]
	}
	return out
}
