package webhooks

import (
	"bytes"
	"encoding/json"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// fileList is a JSON list of repository file names that keeps apart the
// names JSON decoding would rewrite (bytes that are not UTF-8 become
// U+FFFD), so that such a file is refused by name instead of mapped to
// another URL.
type fileList struct {
	valid   []string
	invalid []string // as received, inside the quotes
}

// UnmarshalJSON reads the list, checking each name on its raw bytes.
func (l *fileList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return err
		}
		if jobs.ValidJSONString(r) {
			l.valid = append(l.valid, s)
			continue
		}
		r = bytes.TrimSpace(r)
		l.invalid = append(l.invalid, string(r[1:len(r)-1]))
	}
	return nil
}

// commitFiles is the file lists of one pushed commit (GitHub and GitLab
// name them alike).
type commitFiles struct {
	Added    fileList `json:"added"`
	Modified fileList `json:"modified"`
	Removed  fileList `json:"removed"`
}

// addTo appends the commit's files to ev.
func (c commitFiles) addTo(ev *changeEvent) {
	ev.changed = append(ev.changed, c.Added.valid...)
	ev.changed = append(ev.changed, c.Modified.valid...)
	ev.removed = append(ev.removed, c.Removed.valid...)
	for _, l := range []fileList{c.Added, c.Modified, c.Removed} {
		ev.invalid = append(ev.invalid, l.invalid...)
	}
}

// longestList is the length of the commit's longest file list.
func (c commitFiles) longestList() int {
	return max(len(c.Added.valid)+len(c.Added.invalid), len(c.Modified.valid)+len(c.Modified.invalid), len(c.Removed.valid)+len(c.Removed.invalid))
}
