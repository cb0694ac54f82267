package webhooks

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// What an OSS event does to an object (OSSRule.On).
const (
	ossCreated = "created"
	ossRemoved = "removed"
)

// OSSRule maps object events of matching buckets and keys to the URLs
// that serve the objects (docs/oss.md).
type OSSRule struct {
	// Name appears in logs and answers.
	Name string `yaml:"name" json:"name"`
	// Bucket is a glob on the bucket name (path.Match syntax); "*" is
	// any bucket.
	Bucket string `yaml:"bucket" json:"bucket"`
	// Prefix limits the rule to keys that start with it; empty is every
	// key.
	Prefix string `yaml:"prefix" json:"prefix"`
	// StripPrefix is removed from the key to form {key}; it must be the
	// start of Prefix, so every key the rule matches has it.
	StripPrefix string `yaml:"strip_prefix" json:"strip_prefix"`
	// URLTemplate builds the URL of an object from {key} (the key after
	// StripPrefix, each '/'-separated segment percent-encoded) and
	// {bucket}; its host is fixed.
	URLTemplate string `yaml:"url_template" json:"url_template"`
	// On lists the changes that refresh: created (a new or overwritten
	// object), removed; empty means both.
	On []string `yaml:"on" json:"on"`
	// PrefetchCreated also prefetches a created object after its refresh.
	PrefetchCreated bool `yaml:"prefetch_created" json:"prefetch_created"`
	// Priority of the rule's jobs: high, normal (default) or low.
	Priority jobs.Priority `yaml:"priority" json:"priority"`
}

var ossPlaceholders = []string{"{key}", "{bucket}"}

// ossSampleKey is the key rendered to check a rule's URLs at start.
const ossSampleKey = "sample/file.css"

// validate returns the problems of r, each naming its field.
func (r OSSRule) validate() fielderr.List {
	var out fielderr.List
	add := out.Add
	switch {
	case r.Bucket == "":
		add("bucket", "empty: name the bucket (a glob such as static-* is fine; * is any bucket)")
	default:
		if _, err := path.Match(r.Bucket, ""); err != nil {
			add("bucket", "glob %q: %v", clip(r.Bucket, maxEchoValue), err)
		}
	}
	if r.StripPrefix != "" && !strings.HasPrefix(r.Prefix, r.StripPrefix) {
		add("strip_prefix", "%q is not the start of prefix %q: every key the rule matches must start with it; set prefix to %q or longer",
			clip(r.StripPrefix, maxEchoValue), clip(r.Prefix, maxEchoValue), clip(r.StripPrefix, maxEchoValue))
	}
	if r.URLTemplate == "" {
		add("url_template", "empty: give the URL that serves an object, for example https://static.example.com/{key}")
	} else if err := checkOSSTemplate(r.URLTemplate); err != nil {
		add("url_template", "%v", err)
	}
	for i, on := range r.On {
		if on != ossCreated && on != ossRemoved {
			add(fmt.Sprintf("on[%d]", i), "%q: want created or removed (empty: both)", clip(on, maxEchoValue))
		}
	}
	if r.PrefetchCreated && len(r.On) > 0 && !slices.Contains(r.On, ossCreated) {
		add("prefetch_created", "the rule does not act on created objects (on: %v); add created to on, or remove prefetch_created", r.On)
	}
	if r.Priority.Rank() < 0 {
		add("priority", "%q: want high, normal or low", r.Priority)
	}
	return out
}

func checkOSSTemplate(t string) error {
	rest := t
	for _, p := range ossPlaceholders {
		rest = strings.ReplaceAll(rest, p, "x")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%q: unknown placeholder; use %s", clip(t, maxEchoValue), strings.Join(ossPlaceholders, ", "))
	}
	if !strings.Contains(t, "{key}") {
		return fmt.Errorf("%q: needs {key}", clip(t, maxEchoValue))
	}
	return checkFixedHost(clip(t, maxEchoValue), "https://static.example.com/{key}")
}

// acts reports whether the rule refreshes on a change of this kind.
func (r OSSRule) acts(change string) bool { return len(r.On) == 0 || slices.Contains(r.On, change) }

// matches reports whether the rule covers the object.
func (r OSSRule) matches(bucket, key string) bool {
	ok, err := path.Match(r.Bucket, bucket)
	return err == nil && ok && strings.HasPrefix(key, r.Prefix)
}

// render builds the URL of an object: {key} is the key after StripPrefix
// with each segment percent-encoded, {bucket} the bucket's name.
func (r OSSRule) render(bucket, key string) string {
	segs := strings.Split(strings.TrimPrefix(key, r.StripPrefix), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.NewReplacer("{key}", strings.Join(segs, "/"), "{bucket}", url.PathEscape(bucket)).Replace(r.URLTemplate)
}

// sampleBucket is a bucket the rule matches, for the start-up check.
func (r OSSRule) sampleBucket() string {
	if !strings.ContainsAny(r.Bucket, `*?[\`) {
		return r.Bucket
	}
	return "bucket"
}

// CheckOSSRuleURLs makes sure every URL an OSS rule can produce is
// allowed by v, so that a rule for a domain outside the allowlist fails at
// start (and in config check) rather than on every event. New runs it;
// so does the config's validation. Fields are relative to the webhooks
// section ("oss_rules[1].url_template").
func CheckOSSRuleURLs(rules []OSSRule, v *jobs.Validator) fielderr.List {
	var errs fielderr.List
	for i, r := range rules {
		if r.URLTemplate == "" || checkOSSTemplate(r.URLTemplate) != nil {
			continue // Validate names it
		}
		sample := r.render(r.sampleBucket(), r.StripPrefix+ossSampleKey)
		if _, err := v.Normalize(sample, apiclient.ObjectFile); err != nil {
			errs.Add(fmt.Sprintf("oss_rules[%d].url_template", i), "%v", err)
		}
	}
	return errs
}
