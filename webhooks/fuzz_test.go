package webhooks

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzGenericHeaders feeds the header check of the generic hook (it runs
// before any body is read) whatever a stranger can send: it never panics
// and lets through only the right bearer token or well-formed, fresh HMAC
// headers.
func FuzzGenericHeaders(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add("", "", "")
	f.Add("Bearer "+testBearer, "", "")
	f.Add("Bearer x", "", "")
	f.Add("", "1700000000", "sha256="+strings.Repeat("ab", 32))
	f.Add("", "1700000031", "sha256="+strings.Repeat("ab", 32))
	f.Add("", "-9223372036854775808", "sha256=")
	f.Add("", "99999999999999999999", "sha1=00")
	s := &Server{cfg: Config{GenericToken: testBearer, GenericHMACSecret: testHMACSecret}.WithDefaults(), deps: Deps{Now: func() time.Time { return now }}}
	f.Fuzz(func(t *testing.T, auth, ts, sig string) {
		req := httptest.NewRequest(http.MethodPost, "/hooks/generic", nil)
		req.Header = http.Header{"Authorization": {auth}, HeaderTimestamp: {ts}, HeaderSignature: {sig}}
		a, herr := s.authGenericHeaders(req)
		if herr != nil {
			if herr.status() != http.StatusUnauthorized || len(herr.body.Error) > maxEcho {
				t.Fatalf("refusal %d with a %d-byte message", herr.status(), len(herr.body.Error))
			}
			return
		}
		if a.bearer {
			if auth != "Bearer "+testBearer && strings.TrimSpace(strings.TrimPrefix(auth, "Bearer ")) != testBearer {
				t.Fatalf("bearer %q accepted", auth)
			}
			return
		}
		if len(a.mac) != 32 || a.ts != ts {
			t.Fatalf("HMAC headers %q %q passed as %+v", ts, sig, a)
		}
	})
}

// FuzzClip: a clipped value is never longer than asked and stays valid
// UTF-8 when it was.
func FuzzClip(f *testing.F) {
	f.Add("hello", 3)
	f.Add(strings.Repeat("é", 40), 20)
	f.Add("application/"+strings.Repeat("x", 2000), maxEchoValue)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 20 || n > 4096 {
			return
		}
		got := clip(s, n)
		if len(got) > n {
			t.Fatalf("clip to %d gave %d bytes", n, len(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("clip broke UTF-8: %q", got)
		}
	})
}
