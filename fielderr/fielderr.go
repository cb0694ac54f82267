// Package fielderr holds the error type every configuration validator
// returns: a problem at a field's path. A validator names fields relative
// to the value it was given ("linger", "rules[2].branch"); whoever holds
// that value at a longer path adds the prefix (Prefix, Join), so that the
// config package reports "worker.linger" without any package knowing
// where its part sits in the file, and without reading paths back out of
// error text.
//
// It imports nothing of cdnpurge, so every package can use it.
package fielderr

import (
	"fmt"
	"strings"
)

// Error is one problem of a value, at a field's path relative to it.
type Error struct {
	// Field is the path: "linger", "retry.base", "rules[2].url_template",
	// "[3] (nightly).cron" for an element of a list; "" for the value
	// itself.
	Field string
	// Message says what is wrong and what to do.
	Message string
}

// Error reads "field: message", or the message alone for the value itself.
func (e Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// List is every problem a validator found, in the order found; nil when
// there is none.
type List []Error

// Add appends a problem at field.
func (l *List) Add(field, format string, args ...any) {
	*l = append(*l, Error{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Append appends the problems of other under prefix.
func (l *List) Append(prefix string, other List) {
	*l = append(*l, other.Prefix(prefix)...)
}

// Prefix returns a copy of l with prefix put before each field.
func (l List) Prefix(prefix string) List {
	if l == nil {
		return nil
	}
	out := make(List, len(l))
	for i, e := range l {
		out[i] = Error{Field: Join(prefix, e.Field), Message: e.Message}
	}
	return out
}

// Err returns l as an error, nil when l is empty. Return it instead of l
// from a function whose result is an error: a nil List in an error
// interface is not a nil error.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Error lists the problems one a line.
func (l List) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each problem, for errors.As.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Join puts prefix before field: "worker"+"linger" is "worker.linger",
// "schedules"+"[2].cron" is "schedules[2].cron"; an empty side leaves the
// other.
func Join(prefix, field string) string {
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
