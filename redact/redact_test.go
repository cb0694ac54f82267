package redact

import (
	"strings"
	"testing"
)

// canary is a fake secret no rule matches by its shape, so finding it
// proves a rule by structure failed.
const canary = "canary-value-42"

// canaryBodies are a failing provider's answers in every encoding the
// security review tried, each holding canary as a secret's value.
var canaryBodies = map[string]string{
	"json":              `{"Message":"rotation failed","SessionToken":"` + canary + `","Credentials":{"AccessKeySecret":"` + canary + `"}}`,
	"json spaced":       `{ "access_key_secret" : "` + canary + `" }`,
	"escaped quotes":    `{\"AccessKeySecret\":\"` + canary + `\"}`,
	"double escaped":    `{\\\"AccessKeySecret\\\":\\\"` + canary + `\\\"}`,
	"yaml":              "message: failed\naccess-key-secret: " + canary + "\nregion: cn",
	"yaml quoted":       "security_token: '" + canary + "'",
	"query":             "error=denied&AccessKeySecret=" + canary + "&x=1",
	"url encoded":       "body=AccessKeySecret%3D" + canary + "%26x%3D1",
	"html entity":       "<p>AccessKeySecret&#61;" + canary + "</p>",
	"html hex entity":   "<p>SecurityToken&#x3D;" + canary + "</p>",
	"html quot":         "{&quot;AccessKeySecret&quot;:&quot;" + canary + "&quot;}",
	"html table":        "<tr><td>SecurityToken</td><td>" + canary + "</td></tr>",
	"header":            "Authorization: Bearer " + canary,
	"form password":     "user=x&password=" + canary,
	"quoted with space": `{"Password":"` + canary + ` and more"}`,
	"url query":         "get credentials from http://creds.example/latest?token=" + canary + " failed",
	"url userinfo":      "dial https://user:" + canary + "@creds.example/x",
}

func TestScrubRemovesCanariesInEveryEncoding(t *testing.T) {
	t.Parallel()
	for name, body := range canaryBodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Scrub(body)
			if strings.Contains(got, canary) || strings.Contains(got, "canary") {
				t.Fatalf("Scrub(%q) = %q: the canary is left", body, got)
			}
			if !strings.Contains(got, Redacted) {
				t.Fatalf("Scrub(%q) = %q: nothing marked redacted", body, got)
			}
			if Scrub(got) != got {
				t.Fatalf("Scrub is not idempotent: %q -> %q", got, Scrub(got))
			}
		})
	}
}

func TestScrubRemovesCredentialShapes(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{
		"LTAI5tQx9mZ3kR7vB2nW8pYc",                          // an AccessKey ID
		"STS.NUgYrLnoC37mZZCNnAbez2TgV",                     // an STS AccessKey ID
		"CAIS8QF1q6Ft5B2yfSjIr5bSEsnBmP1M5qWkbUnx",          // an STS security token
		"Hk3pQ9sZx7LmN2bV8cR4tY6wA1eD5fG0",                  // an AccessKey secret (30+ random)
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", // an OIDC token
	} {
		got := Scrub("failed: " + secret + " (retry)")
		if strings.Contains(got, secret) || !strings.HasPrefix(got, "failed: ") || !strings.HasSuffix(got, " (retry)") {
			t.Errorf("Scrub kept or mangled %s: %q", secret, got)
		}
	}
}

func TestScrubKeepsOrdinaryText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"RefreshObjectCaches: HTTP 400 InvalidObjectPath.Malformed: the path is wrong (RequestId 5C3A2B1E-8D7F-4A2B-9C1D-0E3F5A7B9C2D)",
		"job 01jd2x4k5m6n7p8q9r0s1t2v3w: path https://static.example.com/assets/index.js is not on the allowlist",
		"credentials provider uri: HTTP 500: the provider refused (request ID abc-123)",
		"webhooks.generic_token_file: cannot read /run/secrets/token",
		"the security token expired; renew it",
		"QuotaExceeded.Refresh",
		"job Deploy_Frontend2026Assets_Build42abc-7x deferred",
	} {
		if got := Scrub(s); got != s {
			t.Errorf("Scrub(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestEscapeControls(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"acme/x":                           "acme/x",
		"\x1b[2J\x1b[1;31mEVIL":            `\x1b[2J\x1b[1;31mEVIL`,
		"row\nforged\trow\r":               `row\nforged\trow\r`,
		"acme/x\u0085RED\ufffdHIDDEN-REST": `acme/x\u0085RED\ufffdHIDDEN-REST`,
		"bad \xff\xfe byte":                `bad \xff\xfe byte`,
		"rtl \u202egnp.exe":                `rtl \u202egnp.exe`,
		"del\x7f":                          `del\x7f`,
		"ümlaut 中文 ok":                     "ümlaut 中文 ok",
		"\x9b2J (C1 CSI as a byte)":        `\x9b2J (C1 CSI as a byte)`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if NeedsEscape(in) != (in != want) {
			t.Errorf("NeedsEscape(%q) = %v", in, NeedsEscape(in))
		}
	}
}

func TestTextBoundsAndCombines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 1000) + "\x1b"
	got := Text(`{"SecurityToken":"` + canary + `"}` + long)
	if len(got) > MaxText+3 || strings.Contains(got, canary) || strings.Contains(got, "\x1b") {
		t.Fatalf("Text = %d bytes %q", len(got), got[:40])
	}
	if !strings.HasSuffix(got, "...") {
		t.Fatalf("a clipped text should say so: %q", got[len(got)-10:])
	}
	if Error(nil) != "" {
		t.Fatal("Error(nil) should be empty")
	}
}

func FuzzScrub(f *testing.F) {
	for _, b := range canaryBodies {
		f.Add(b)
	}
	f.Add("\x1b[2J")
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if NeedsEscape(got) {
			t.Fatalf("Text(%q) = %q still holds a control byte", s, got)
		}
		if len(got) > MaxText+3 {
			t.Fatalf("Text returned %d bytes", len(got))
		}
		if got, want := Scrub(s), scrubEverywhere(s); got != want {
			t.Fatalf("Scrub(%q) = %q, but every step run everywhere gives %q: a shortcut skipped a match", s, got, want)
		}
		if sc := Scrub(s); Scrub(sc) != sc {
			t.Fatalf("Scrub not idempotent on %q: %q then %q", s, sc, Scrub(sc))
		}
	})
}

// scrubEverywhere is Scrub without its shortcuts: every step on the whole
// string. FuzzScrub holds Scrub to it.
func scrubEverywhere(s string) string {
	if s == "" {
		return s
	}
	s = scrubKeys(s)
	s = urlUserinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
	s = urlQuery.ReplaceAllString(s, "${1}?"+Redacted)
	for _, re := range shapes {
		s = re.ReplaceAllString(s, Redacted)
	}
	var b strings.Builder
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && isRunByte(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if run := s[start:i]; len(run) >= 24 && mixed(run) {
				b.WriteString(Redacted)
			} else {
				b.WriteString(run)
			}
			start = -1
		}
		if i < len(s) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
