package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie; its path is /console/.
const cookieName = "cdnpurge_console"

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept in memory; the oldest go first.
const maxSessions = 1000

// session is one operator logged in with admin.token.
type session struct {
	id      string
	csrf    string
	who     string
	expires time.Time
}

// sessions are the logins of this replica (a login is per replica: each
// serves its own admin listener).
type sessions struct {
	token []byte // sha256 of admin.token; nil: read-only
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(token string, now func() time.Time) *sessions {
	s := &sessions{now: now, m: map[string]*session{}}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		s.token = sum[:]
	}
	return s
}

// readOnly reports whether no token is configured.
func (s *sessions) readOnly() bool { return s.token == nil }

// tokenOK compares a given token with admin.token in constant time (both
// hashed first, so their lengths do not show either).
func (s *sessions) tokenOK(given string) bool {
	if s.token == nil {
		return false
	}
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], s.token) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// start opens a session for a login from remote.
func (s *sessions) start(remote string) *session {
	id := randomToken()
	sum := sha256.Sum256([]byte(id))
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	se := &session{id: id, csrf: randomToken(), expires: s.now().Add(sessionTTL),
		who: "console:session-" + hex.EncodeToString(sum[:4]) + "@" + host}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[id] = se
	return se
}

// get returns the live session of r's cookie, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[c.Value]
	if se == nil {
		return nil
	}
	if s.now().After(se.expires) {
		delete(s.m, se.id)
		return nil
	}
	return se
}

// end closes the session of r's cookie.
func (s *sessions) end(r *http.Request) {
	if se := s.get(r); se != nil {
		s.mu.Lock()
		delete(s.m, se.id)
		s.mu.Unlock()
	}
}

// csrfOK compares the form's CSRF token with the session's in constant
// time.
func (se *session) csrfOK(given string) bool {
	return subtle.ConstantTimeCompare([]byte(given), []byte(se.csrf)) == 1
}

func setCookie(w http.ResponseWriter, value string, maxAge int, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure})
}
