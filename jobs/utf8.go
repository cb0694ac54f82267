package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidJSONString reports whether raw, one JSON string literal with its
// quotes, decodes without replacement: its bytes are valid UTF-8 and its
// \u escapes pair surrogates correctly. encoding/json silently turns
// either fault into U+FFFD, which would make a path name another URL, so
// producers check the raw bytes before decoding.
func ValidJSONString(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) || raw[i+1] != 'u' {
			i++ // a two-byte escape such as \" or \n
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return false
		}
		i += 5
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return false // a low surrogate without its high one
		case r >= 0xd800 && r <= 0xdbff:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(raw, i+3)
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return false
			}
			i += 6
		}
	}
	return true
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// ShowInvalidUTF8 renders s with every byte that is not valid UTF-8 as
// \xNN, so a refusal can name a path that cannot be printed as it came.
func ShowInvalidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// rawText is the raw form of one JSON string literal, for messages.
func rawText(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	return ShowInvalidUTF8(string(raw))
}

// invalidUTF8Reason is the reason given for a path that is not UTF-8.
const invalidUTF8Reason = "not valid UTF-8 (invalid bytes or an unpaired \\u surrogate escape); send the path as UTF-8 and percent-encode other bytes (%FF)"

// checkRawPaths finds paths of a decoded message that JSON decoding
// rewrote: it reads the paths again as raw literals. It returns nil when
// every path is valid.
func checkRawPaths(data []byte) []Problem {
	if utf8.Valid(data) && !bytes.Contains(data, []byte(`\u`)) && !bytes.Contains(data, []byte(`\U`)) {
		return nil
	}
	type rawSpec struct {
		Paths []json.RawMessage `json:"paths"`
	}
	var raw struct {
		Refresh *rawSpec `json:"refresh"`
		Push    *rawSpec `json:"push"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil // the strict decode accepted it; nothing more to say
	}
	var out []Problem
	for _, sec := range []struct {
		field string
		spec  *rawSpec
	}{{"refresh.paths", raw.Refresh}, {"push.paths", raw.Push}} {
		if sec.spec == nil {
			continue
		}
		for i, p := range sec.spec.Paths {
			if !ValidJSONString(p) {
				out = append(out, Problem{Field: fmt.Sprintf("%s[%d]", sec.field, i), Path: rawText(p), Reason: invalidUTF8Reason})
			}
		}
	}
	return out
}
