package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cdnpurge/cdnpurge/fielderr"
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

// addList adds a validator's problems under prefix: fielderr.Errors name
// their field relative to what the validator was given, and prefix is
// where that sits in the config ("worker", "cdn", "" for the root).
func (p *problems) addList(prefix string, l fielderr.List) {
	for _, e := range l {
		*p = append(*p, FieldError{Field: fielderr.Join(prefix, e.Field), Msg: e.Message})
	}
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
