package redact

import (
	"net/url"
	"strings"
)

// URLMask replaces a URL's password, or a user part that is a token.
const URLMask = "xxxxx"

// URL masks the credentials of a server URL, or of each URL of a
// comma-separated list (nats.url), for logs, errors and config dumps. A
// password becomes URLMask and the user name stays (nats://u:xxxxx@host); a
// user part without a password is a token (nats://TOKEN@host) and becomes
// URLMask whole. A URL that does not parse, or parses without user info
// but has an "@" (an unescaped "/" in a password, a list entry without a
// scheme such as u:p@host:4222, which NATS accepts), has everything from
// its scheme (or its start) to its last "@" replaced by URLMask: user info
// is removed by position, never kept because the URL is malformed.
func URL(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = oneURL(p)
	}
	return strings.Join(parts, ",")
}

func oneURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err == nil && u.User != nil:
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), URLMask)
		} else if u.User.Username() != "" {
			u.User = url.User(URLMask)
		}
		return u.String()
	case !strings.Contains(s, "@"):
		return s
	}
	// Not parsed, or the "@" is somewhere url.Parse does not take for the
	// end of user info: cut by position.
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndexByte(s, '@')
	if at < start {
		return s
	}
	return s[:start] + URLMask + s[at:]
}
