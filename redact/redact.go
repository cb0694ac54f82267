// Package redact turns text from outside the process (a credentials
// provider's or the CDN API's answer, a hook's fields, an error built from
// them) into text that is safe to hand to another party: a status event,
// a job record, a CLI table, /readyz or a log line.
//
// Scrub removes secrets by structure, not by a list of field names: the
// value of every key that looks like a secret, in JSON (also with escaped
// quotes), YAML, query/form and HTML encodings, and anything shaped like an
// AccessKey ID, an STS token or a long random string. Escape makes control
// bytes visible. Text and Error do both and bound the length; every path
// that turns outside text into a message for someone else uses them.
package redact

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a secret.
const Redacted = "[redacted]"

// MaxText bounds what Text and Error return, in bytes.
const MaxText = 512

// Error is Text of err's message; "" for nil.
func Error(err error) string {
	if err == nil {
		return ""
	}
	return Text(err.Error())
}

// Text scrubs s, escapes its control bytes and bounds it to MaxText bytes.
func Text(s string) string {
	return Clip(Escape(Scrub(s)), MaxText)
}

// Clip cuts s to at most n bytes on a rune boundary, marking the cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Scrub returns s with secrets replaced by Redacted: the value after each
// secret-looking key (see secretName) in any of the encodings a provider
// or a proxy answers in, URL queries and user info, and runs shaped like
// credentials (see shapes). It keeps everything else, so a message stays
// readable; it does not escape control bytes (Escape does).
func Scrub(s string) string {
	if s == "" {
		return s
	}
	// Each step runs only where its pattern can match: serve logs a few
	// lines per hook, and most of what they carry (job IDs, kinds,
	// sources, paths) holds no key, URL credentials or token shape.
	if mayHoldSecretKey(s) {
		s = scrubKeys(s)
	}
	if strings.Contains(s, "://") {
		if strings.Contains(s, "@") {
			s = urlUserinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
		}
		if strings.Contains(s, "?") {
			s = urlQuery.ReplaceAllString(s, "${1}?"+Redacted)
		}
	}
	for i, re := range shapes {
		if strings.Contains(s, shapeMarks[i]) {
			s = re.ReplaceAllString(s, Redacted)
		}
	}
	return replaceRandomRuns(s)
}

// shapeMarks are what each of shapes starts with.
var shapeMarks = []string{"LTAI", "STS.", "CAIS", "eyJ", "-----BEGIN "}

// mayHoldSecretKey reports whether s can hold a key secretName accepts:
// a key is a run of s, and secretName strips '_', '-' and '.' and lower-
// cases it, so a key naming a secret leaves one of secretWords in s
// stripped and lower-cased the same way.
func mayHoldSecretKey(s string) bool {
	k := keyStripper.Replace(strings.ToLower(s))
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

var keyStripper = strings.NewReplacer("_", "", "-", "", ".", "")

var (
	// urlQuery is the query of a URL, which may carry a token.
	urlQuery = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^\s?"'<>\\]+)\?[^\s"'<>\\]*`)
	// urlUserinfo is the user:password@ of a URL.
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@"'<>\\]+@`)
	// shapes are credentials recognised by their form: AccessKey IDs
	// (LTAI...), STS AccessKey IDs (STS....), STS security tokens (base64
	// starting CAIS), JWTs (OIDC tokens) and PEM private keys.
	shapes = []*regexp.Regexp{
		regexp.MustCompile(`LTAI[0-9A-Za-z]{12,}`),
		regexp.MustCompile(`STS\.[0-9A-Za-z]{8,}`),
		regexp.MustCompile(`CAIS[0-9A-Za-z+/=_-]{16,}`),
		regexp.MustCompile(`eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{8,}(\.[0-9A-Za-z_-]*)?`),
		regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`),
	}
)

// replaceRandomRuns replaces runs of at least 24 base64 characters that
// mix upper case, lower case and digits: an AccessKey secret (30
// characters) or a token looks so; words, paths, job IDs (lower case, or
// names joined by '-' and '_') and request IDs (upper-case hex and
// dashes) do not.
func replaceRandomRuns(s string) string {
	if !hasRandomRun(s) {
		return s
	}
	var b strings.Builder
	start := -1
	flush := func(end int) {
		run := s[start:end]
		if len(run) >= 24 && mixed(run) {
			b.WriteString(Redacted)
		} else {
			b.WriteString(run)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		if isRunByte(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(i)
		}
		b.WriteByte(s[i])
	}
	if start >= 0 {
		flush(len(s))
	}
	return b.String()
}

// hasRandomRun reports whether replaceRandomRuns would replace a run.
func hasRandomRun(s string) bool {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isRunByte(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= 24 && mixed(s[start:i]) {
			return true
		}
		start = -1
	}
	return false
}

func isRunByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '='
}

func mixed(run string) bool {
	var up, low, digit bool
	for i := 0; i < len(run); i++ {
		c := run[i]
		up = up || c >= 'A' && c <= 'Z'
		low = low || c >= 'a' && c <= 'z'
		digit = digit || c >= '0' && c <= '9'
	}
	return up && low && digit
}

// keyName is a candidate key: a word that may be followed by a separator.
var keyName = regexp.MustCompile(`[A-Za-z][A-Za-z0-9_.-]*`)

// secretWords are what a secret's key name contains once lower-cased and
// stripped of '_', '-' and '.': AccessKeySecret, access-key-secret,
// SecurityToken, sts_token, password, X-Api-Key, Authorization, ...
var secretWords = []string{"secret", "token", "passw", "pwd", "signature", "privatekey", "apikey", "authorization", "cookie"}

// secretName reports whether a key names a secret; one naming where a
// secret is kept (token_file, secret_path) does not.
func secretName(key string) bool {
	k := keyStripper.Replace(strings.ToLower(key))
	if strings.HasSuffix(k, "file") || strings.HasSuffix(k, "path") {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// quotes are the forms a quote takes around a key or a value: plain,
// escaped once or twice inside a JSON string, HTML entities, URL-encoded.
var quotes = []string{`\\\"`, `\"`, `"`, `'`, `&quot;`, `&#34;`, `&#x22;`, `&#39;`, `&#x27;`, `&apos;`, `%22`, `%27`}

// assigns are the forms of "key is value": JSON and YAML colons, form and
// query equals signs, and their HTML and URL encodings.
var assigns = []string{`=>`, `:`, `=`, `&#61;`, `&#x3d;`, `&#x3D;`, `&equals;`, `&#58;`, `&#x3a;`, `&#x3A;`, `&colon;`, `%3D`, `%3d`, `%3A`, `%3a`}

// htmlTag matches one tag, the separator of <td>Key</td><td>value</td>.
var htmlTag = regexp.MustCompile(`^<[/a-zA-Z][^<>]{0,40}>`)

// scrubKeys replaces the value after each secret-looking key.
func scrubKeys(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range keyName.FindAllStringIndex(s, -1) {
		if m[0] < last || !secretName(s[m[0]:m[1]]) {
			continue
		}
		vStart, vEnd, ok := valueAfter(s, m[1])
		if !ok || s[vStart:vEnd] == Redacted {
			continue
		}
		b.WriteString(s[last:vStart])
		b.WriteString(Redacted)
		last = vEnd
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// valueAfter finds the value that follows a key ending at i: separators
// (quotes, blanks, tags, one assignment) then a quoted value up to its
// closing quote, or a bare value up to a delimiter. ok is false when no
// assignment follows, or the value is a nested object or list (its own
// keys are scrubbed on their own).
func valueAfter(s string, i int) (start, end int, ok bool) {
	assigned, tagged := false, false
	closing := ""
	for i < len(s) {
		if c := s[i]; c == ' ' || c == '\t' {
			i++
			continue
		}
		if q := prefixOf(s[i:], quotes); q != "" {
			closing = q
			i += len(q)
			continue
		}
		if !assigned {
			if a := prefixOf(s[i:], assigns); a != "" {
				assigned, closing = true, ""
				i += len(a)
				continue
			}
		}
		if t := htmlTag.FindString(s[i:]); t != "" {
			tagged, closing = true, ""
			i += len(t)
			continue
		}
		break
	}
	if !assigned && !tagged || i >= len(s) || s[i] == '{' || s[i] == '[' {
		return 0, 0, false
	}
	start = i
	if closing != "" {
		if j := strings.Index(s[i:], closing); j >= 0 {
			return start, i + j, start < i+j
		}
		if j := strings.IndexAny(s[i:], "\n"); j >= 0 {
			return start, i + j, j > 0
		}
		return start, len(s), true
	}
	i = bareEnd(s, i)
	// An authorization scheme is followed by the credential itself.
	if i < len(s) && s[i] == ' ' &&
		strings.Contains(authSchemes, " "+strings.ToLower(s[start:i])+" ") {
		i = bareEnd(s, i+1)
	}
	return start, i, i > start
}

// authSchemes are the HTTP authorization schemes, between blanks.
const authSchemes = " bearer basic token digest "

// bareEnd returns where a bare value starting at i ends.
func bareEnd(s string, i int) int {
	for i < len(s) && !endsBare(s[i:]) {
		i++
	}
	return i
}

// endsBare reports whether a bare value ends at the start of s.
func endsBare(s string) bool {
	switch s[0] {
	case ' ', '\t', '\r', '\n', '"', '\'', '\\', '&', ',', ';', '}', ']', ')', '<', '>':
		return true
	}
	return prefixOf(s, []string{"%26", "%22", "%27", "%2C", "%2c"}) != ""
}

func prefixOf(s string, list []string) string {
	for _, p := range list {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	return ""
}
