package apiclient

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"time"
)

// TimestampFormat is the UTC layout the RPC protocol expects in Timestamp.
const TimestampFormat = "2006-01-02T15:04:05Z"

// Signature parameters every v1 request carries.
const (
	SignatureMethodHMACSHA1 = "HMAC-SHA1"
	SignatureVersion1       = "1.0"
)

// PercentEncode encodes s as the Alibaba Cloud CDN API reference (API 2014-11-11), "Signature mechanism" requires: RFC 3986
// unreserved characters (A-Z a-z 0-9 - _ . ~) stay, every other byte of the
// UTF-8 form becomes %XY with upper-case hex, and a space is %20, never +.
func PercentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// CanonicalQuery builds the canonicalized query string of
// the Alibaba Cloud CDN API reference (API 2014-11-11), "Signature mechanism":
// every parameter but Signature, names and values percent-encoded, pairs
// sorted by name and joined with &. A name given more than once keeps every
// value, sorted, so that a server and a client agree on a repeated parameter.
func CanonicalQuery(params url.Values) string {
	pairs := make([]string, 0, len(params))
	for k, vs := range params {
		if k == "Signature" {
			continue
		}
		ek := PercentEncode(k)
		for _, v := range vs {
			pairs = append(pairs, ek+"="+PercentEncode(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// StringToSign returns HTTPMethod & %2F & percentEncode(CanonicalQuery).
func StringToSign(method string, params url.Values) string {
	return strings.ToUpper(method) + "&" + PercentEncode("/") + "&" + PercentEncode(CanonicalQuery(params))
}

// SignV1 computes the v1 (HMAC-SHA1) signature of a request: the base64
// HMAC-SHA1 of StringToSign keyed with secret + "&". For a POST form request,
// params is the union of the query and the form parameters.
func SignV1(method string, params url.Values, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyV1 reports whether params carries a Signature that SignV1 would
// produce for them with secret. The comparison is constant-time.
func VerifyV1(method string, params url.Values, secret string) bool {
	got := params.Get("Signature")
	if got == "" {
		return false
	}
	want := SignV1(method, params, secret)
	return hmac.Equal([]byte(got), []byte(want))
}

// NewNonce returns a random, version-4-shaped UUID for SignatureNonce.
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a nonce that
		// could repeat must never be sent, so stop here rather than guess.
		panic("apiclient: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// Signer adds the common parameters and a v1 or V3 signature to a request.
// It touches no network; the clock and the nonce source are inputs so that
// tests can reproduce published vectors.
type Signer struct {
	Credentials Credentials
	Version     string
	// Scheme is SignatureV1 or SignatureV3; "" means V3, except for API
	// version 2014-11-11, which is signed with v1.
	Scheme string
	// Now returns the signing time; nil means time.Now.
	Now func() time.Time
	// Nonce returns a fresh SignatureNonce; nil means NewNonce.
	Nonce func() string
}

// Sign returns a copy of params with Format, Version, AccessKeyId,
// SignatureMethod, SignatureVersion, SignatureNonce, Timestamp, the
// SecurityToken when there is one, and Signature set. Every call takes a new
// nonce and a new timestamp: a retry must call Sign again.
func (s *Signer) Sign(method string, params url.Values) url.Values {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce := NewNonce
	if s.Nonce != nil {
		nonce = s.Nonce
	}
	out := make(url.Values, len(params)+9)
	for k, v := range params {
		out[k] = append([]string(nil), v...)
	}
	out.Set("Format", "JSON")
	if s.Version != "" {
		out.Set("Version", s.Version)
	}
	out.Set("AccessKeyId", s.Credentials.AccessKeyID)
	out.Set("SignatureMethod", SignatureMethodHMACSHA1)
	out.Set("SignatureVersion", SignatureVersion1)
	out.Set("SignatureNonce", nonce())
	out.Set("Timestamp", now().UTC().Format(TimestampFormat))
	if s.Credentials.SecurityToken != "" {
		out.Set("SecurityToken", s.Credentials.SecurityToken)
	}
	out.Del("Signature")
	out.Set("Signature", SignV1(method, out, s.Credentials.AccessKeySecret))
	return out
}

// SignedRequest is what one attempt sends: the query string (without "?"),
// the form body (nil for GET) and the headers to set.
type SignedRequest struct {
	Query   string
	Body    []byte
	Headers map[string]string
}

// scheme resolves the signature scheme of s.
func (s *Signer) scheme() string {
	switch {
	case s.Scheme != "":
		return s.Scheme
	case s.Version == VersionLegacy:
		return SignatureV1
	}
	return SignatureV3
}

// SignRequest signs one attempt of params (which hold Action) sent with
// method to host (as the Host header will carry it, port included). GET
// puts the parameters in the query, POST in a form body. Every call takes a
// new nonce and a new timestamp: a retry must call SignRequest again.
func (s *Signer) SignRequest(method, host string, params url.Values) SignedRequest {
	if s.scheme() == SignatureV1 {
		signed := s.Sign(method, params).Encode()
		if method == "GET" {
			return SignedRequest{Query: signed, Headers: map[string]string{}}
		}
		return SignedRequest{Body: []byte(signed), Headers: map[string]string{"Content-Type": formContentType}}
	}
	return s.signV3(method, host, params)
}

const formContentType = "application/x-www-form-urlencoded"

func (s *Signer) signV3(method, host string, params url.Values) SignedRequest {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce := NewNonce
	if s.Nonce != nil {
		nonce = s.Nonce
	}
	p := make(url.Values, len(params))
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	action := p.Get("Action")
	version := s.Version
	if version == "" {
		version = p.Get("Version")
	}
	p.Del("Action")
	p.Del("Version")
	h := map[string][]string{
		"host":        {host},
		HeaderAction:  {action},
		HeaderVersion: {version},
		HeaderDate:    {now().UTC().Format(TimestampFormat)},
		HeaderNonce:   {nonce()},
	}
	if s.Credentials.SecurityToken != "" {
		h[HeaderSecurityToken] = []string{s.Credentials.SecurityToken}
	}
	var out SignedRequest
	var query url.Values
	if method == "GET" {
		query = p
		out.Query = CanonicalQueryV3(p)
	} else {
		out.Body = []byte(FormEncode(p))
		h["content-type"] = []string{formContentType}
	}
	payload := HashPayload(out.Body)
	h[HeaderContentSHA256] = []string{payload}
	canon, signed := CanonicalRequestV3(method, "/", query, h, payload)
	sig := SignV3(s.Credentials.AccessKeySecret, StringToSignV3(canon))
	out.Headers = make(map[string]string, len(h)+1)
	for k, v := range h {
		if k == "host" {
			continue // net/http sends it from the URL
		}
		out.Headers[k] = v[0]
	}
	out.Headers["Authorization"] = AuthorizationV3(s.Credentials.AccessKeyID, signed, sig)
	return out
}
