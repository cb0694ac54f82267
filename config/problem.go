package config

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cdnpurge/cdnpurge/suggest"
)

// FieldError is one problem of a config, at a field's YAML path
// ("webhooks.rules[2].branch") or an environment variable's name.
type FieldError struct {
	// Field is the YAML path, list indexes included.
	Field string
	// Msg says what is wrong and what to do.
	Msg string
	// Line is the line of the field in the config file; 0 when the value
	// did not come from the file.
	Line int
	// Env names the environment variable the value came from, if any.
	Env string
	// Err is the error Msg came from, for errors.As; may be nil.
	Err error
}

// Error reads "worker.linger: must be > 0 (line 3)".
func (e FieldError) Error() string {
	s := e.Field + ": " + e.Msg
	switch {
	case e.Env != "":
		s += " (from " + e.Env + ")"
	case e.Line > 0:
		s += " (line " + strconv.Itoa(e.Line) + ")"
	}
	return s
}

// Unwrap returns the error the problem came from.
func (e FieldError) Unwrap() error { return e.Err }

// Problems is every problem found in a config, in document order: problems
// with a line first, by line, then the others in the order they were found.
type Problems []FieldError

// Error lists the problems one per line.
func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, e := range p {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each problem, for errors.As.
func (p Problems) Unwrap() []error {
	out := make([]error, len(p))
	for i, e := range p {
		out[i] = e
	}
	return out
}

// problems collects FieldErrors in the order found.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// addErr adds every leaf of err (errors.Join trees are split) under
// prefix: a leaf that reads "field: message" becomes prefix+field; one
// that names no field is put at prefix itself. Packages' own Validate
// methods name their fields relative to what they are given.
func (p *problems) addErr(prefix string, err error) {
	for _, leaf := range leaves(err) {
		var fe FieldError
		if errors.As(leaf, &fe) {
			fe.Field = joinField(prefix, fe.Field)
			*p = append(*p, fe)
			continue
		}
		// A package may join its problems into one error, one a line.
		for _, msg := range strings.Split(leaf.Error(), "\n") {
			if strings.TrimSpace(msg) == "" {
				continue
			}
			field := ""
			if m := leadingField.FindStringSubmatch(msg); m != nil {
				field, msg = m[1], msg[len(m[0]):]
			}
			*p = append(*p, FieldError{Field: joinField(prefix, field), Msg: msg, Err: leaf})
		}
	}
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

// leadingField matches "schedules[2] (nightly).cron: " or "base: " at the
// start of a message.
var leadingField = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?: \([^)]*\))?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)*): `)

// leaves splits errors.Join trees into their leaves.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// where attaches the line or the environment variable each problem's value
// came from, then sorts the problems into document order.
func (p problems) where(doc *document) Problems {
	out := Problems(slices.Clone(p))
	for i := range out {
		e := &out[i]
		if e.Line != 0 || e.Env != "" || doc == nil {
			continue
		}
		path := fieldKey(e.Field)
		if env, ok := doc.env[path]; ok {
			e.Env = env
			continue
		}
		for q := path; q != ""; q = parentPath(q) {
			if l, ok := doc.lines[q]; ok {
				e.Line = l
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b FieldError) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return out
}

// fieldKey drops a schedule's " (name)" from a path.
func fieldKey(field string) string {
	if i := strings.Index(field, " ("); i >= 0 {
		if j := strings.Index(field[i:], ")"); j >= 0 {
			return field[:i] + field[i+j+1:]
		}
	}
	return field
}

// parentPath is "a.b" for "a.b.c" and "a.b" for "a.b[3]".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// didYouMean suggests the closest of candidates to s, or "".
func didYouMean(s string, candidates []string) string {
	return suggest.Closest(s, candidates, max(2, len(s)/3))
}
