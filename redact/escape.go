package redact

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Escape makes every byte that could steer a terminal or forge a line
// visible: C0 controls and DEL (ESC, CR, LF, ...), C1 controls (U+0080 to
// U+009F, which some terminals obey), line and paragraph separators,
// bidirectional overrides, U+FFFD and bytes that are not UTF-8. Each is
// written as a Go escape (\x1b, \n, \u202e, \xff), so the text after it
// stays on the line and readable. Text without such bytes is returned
// unchanged.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// NeedsEscape reports whether Escape would change s.
func NeedsEscape(s string) bool { return firstUnsafe(s) >= 0 }

// firstUnsafe returns the index of the first byte Escape rewrites, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune reports a rune that is a control or steers the display.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029, r == 0x200e, r == 0x200f, r == 0x061c,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == utf8.RuneError:
		return true
	}
	return false
}
