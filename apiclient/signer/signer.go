// Package signer signs Alibaba Cloud RPC requests: signature v1
// (HMAC-SHA1, the CDN API reference (API 2014-11-11), "Signature
// mechanism") and signature V3 (ACS3-HMAC-SHA256, "Request syntax and
// signature method V3"). Its functions are pure: the clock, the nonce and
// the credentials are inputs, so that the published vectors reproduce.
// It imports only the standard library.
package signer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Signature schemes (cdn.signature).
const (
	V1 = "v1"
	V3 = "v3"
)

// AlgorithmV3 names the V3 algorithm in the Authorization header.
const AlgorithmV3 = "ACS3-HMAC-SHA256"

// TimestampFormat is the UTC layout of Timestamp (v1) and x-acs-date (V3).
const TimestampFormat = "2006-01-02T15:04:05Z"

// The headers of a V3 request, lower case.
const (
	HeaderAction        = "x-acs-action"
	HeaderVersion       = "x-acs-version"
	HeaderDate          = "x-acs-date"
	HeaderNonce         = "x-acs-signature-nonce"
	HeaderContentSHA256 = "x-acs-content-sha256"
	HeaderSecurityToken = "x-acs-security-token"
)

const formContentType = "application/x-www-form-urlencoded"

// Request is one attempt to sign. Every attempt needs a new Time and a new
// Nonce: a retry is signed again.
type Request struct {
	// Method is GET (parameters in the query) or POST (in a form body).
	Method string
	// Host is the Host header as it will be sent, port included.
	Host string
	// Params hold Action and the action's parameters; they are not changed.
	Params  url.Values
	Version string
	// Scheme is V1 or V3; "" is V3.
	Scheme          string
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	Time            time.Time
	Nonce           string
}

// Signed is what one attempt sends: the query string (without "?"), the
// form body (nil for GET) and the headers to set (Host aside).
type Signed struct {
	Query   string
	Body    []byte
	Headers map[string]string
}

// Sign signs r with its scheme.
func Sign(r Request) Signed {
	p := make(url.Values, len(r.Params)+10)
	for k, v := range r.Params {
		p[k] = append([]string(nil), v...)
	}
	date := r.Time.UTC().Format(TimestampFormat)
	if r.Scheme == V1 {
		return signV1(r, p, date)
	}
	return signV3(r, p, date)
}

// signV1 adds the common parameters and Signature to p.
func signV1(r Request, p url.Values, date string) Signed {
	p.Set("Format", "JSON")
	if r.Version != "" {
		p.Set("Version", r.Version)
	}
	p.Set("AccessKeyId", r.AccessKeyID)
	p.Set("SignatureMethod", "HMAC-SHA1")
	p.Set("SignatureVersion", "1.0")
	p.Set("SignatureNonce", r.Nonce)
	p.Set("Timestamp", date)
	if r.SecurityToken != "" {
		p.Set("SecurityToken", r.SecurityToken)
	}
	p.Del("Signature")
	p.Set("Signature", SignatureV1(r.Method, p, r.AccessKeySecret))
	if r.Method == "GET" {
		return Signed{Query: p.Encode(), Headers: map[string]string{}}
	}
	return Signed{Body: []byte(p.Encode()), Headers: map[string]string{"Content-Type": formContentType}}
}

// signV3 moves Action and Version to headers, signs the request and sets
// Authorization.
func signV3(r Request, p url.Values, date string) Signed {
	action := p.Get("Action")
	version := r.Version
	if version == "" {
		version = p.Get("Version")
	}
	p.Del("Action")
	p.Del("Version")
	h := map[string][]string{
		"host":        {r.Host},
		HeaderAction:  {action},
		HeaderVersion: {version},
		HeaderDate:    {date},
		HeaderNonce:   {r.Nonce},
	}
	if r.SecurityToken != "" {
		h[HeaderSecurityToken] = []string{r.SecurityToken}
	}
	var out Signed
	var query url.Values
	if r.Method == "GET" {
		query = p
		out.Query = CanonicalQuery(p)
	} else {
		// RFC 3986 encoding, pairs sorted: a body and its hash are the
		// same on every run.
		out.Body = []byte(CanonicalQuery(p))
		h["content-type"] = []string{formContentType}
	}
	payload := HashPayload(out.Body)
	h[HeaderContentSHA256] = []string{payload}
	canon, signed := CanonicalRequestV3(r.Method, "/", query, h, payload)
	sig := SignatureV3(r.AccessKeySecret, StringToSignV3(canon))
	out.Headers = make(map[string]string, len(h)+1)
	for k, v := range h {
		if k != "host" { // net/http sends it from the URL
			out.Headers[k] = v[0]
		}
	}
	out.Headers["Authorization"] = AlgorithmV3 + " Credential=" + r.AccessKeyID + ",SignedHeaders=" + signed + ",Signature=" + sig
	return out
}

// PercentEncode encodes s as both schemes require: RFC 3986 unreserved
// characters (A-Z a-z 0-9 - _ . ~) stay, every other byte of the UTF-8
// form becomes %XY with upper-case hex, and a space is %20, never +.
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

// CanonicalQuery is the canonical query string of both schemes, and the V3
// form body: names and values percent-encoded, sorted by name, the values
// of one name sorted, pairs joined with &. A name given more than once
// keeps every value, so that a server and a client agree on a repeated
// parameter; one without a value reads "name=".
func CanonicalQuery(q url.Values) string { return canonicalQuery(q, "") }

// canonicalQuery is CanonicalQuery without the parameter named skip.
func canonicalQuery(q url.Values, skip string) string {
	type param struct {
		name string
		vals []string
	}
	params := make([]param, 0, len(q))
	for k, vs := range q {
		if k == skip {
			continue
		}
		ev := make([]string, len(vs))
		for i, v := range vs {
			ev[i] = PercentEncode(v)
		}
		sort.Strings(ev)
		params = append(params, param{PercentEncode(k), ev})
	}
	// By name first: "Tag" comes before "Tag.1" although "Tag.1=" sorts
	// before "Tag=" as a string.
	sort.Slice(params, func(i, j int) bool { return params[i].name < params[j].name })
	var b strings.Builder
	for _, p := range params {
		for _, v := range p.vals {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(p.name + "=" + v)
		}
	}
	return b.String()
}

// StringToSignV1 returns HTTPMethod & %2F & PercentEncode(CanonicalQuery),
// the canonical query of every parameter but Signature.
func StringToSignV1(method string, params url.Values) string {
	return strings.ToUpper(method) + "&" + PercentEncode("/") + "&" + PercentEncode(canonicalQuery(params, "Signature"))
}

// SignatureV1 is the base64 HMAC-SHA1 of StringToSignV1 keyed with
// secret + "&". For a POST form request, params is the union of the query
// and the form parameters.
func SignatureV1(method string, params url.Values, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(StringToSignV1(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// HashPayload returns the hex SHA-256 of body, the x-acs-content-sha256 of
// a V3 request (of the empty string when there is no body).
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// signsHeader reports whether a header takes part in a V3 signature.
func signsHeader(lower string) bool {
	return lower == "host" || lower == "content-type" || strings.HasPrefix(lower, "x-acs-")
}

// CanonicalRequestV3 joins method, canonical URI (path, "/" when empty),
// canonical query, canonical headers, signed headers and the payload hash
// with newlines, and returns it with the signed header names joined with
// ";". The canonical headers are "name:value\n" for host, content-type and
// x-acs-* (as the SDKs sign), names lower case and sorted, values trimmed,
// several values sorted and joined with ",".
func CanonicalRequestV3(method, path string, query url.Values, headers map[string][]string, payloadHash string) (canonical, signedHeaders string) {
	if path == "" {
		path = "/"
	}
	byName := map[string][]string{}
	for k, vs := range headers {
		lk := strings.ToLower(strings.TrimSpace(k))
		if !signsHeader(lk) {
			continue
		}
		for _, v := range vs {
			byName[lk] = append(byName[lk], strings.TrimSpace(v))
		}
	}
	names := make([]string, 0, len(byName))
	for k := range byName {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		vs := byName[k]
		sort.Strings(vs)
		b.WriteString(k + ":" + strings.Join(vs, ",") + "\n")
	}
	signedHeaders = strings.Join(names, ";")
	return strings.ToUpper(method) + "\n" + path + "\n" + CanonicalQuery(query) + "\n" +
		b.String() + "\n" + signedHeaders + "\n" + payloadHash, signedHeaders
}

// StringToSignV3 is the algorithm, a newline and the hex SHA-256 of the
// canonical request.
func StringToSignV3(canonicalRequest string) string {
	return AlgorithmV3 + "\n" + HashPayload([]byte(canonicalRequest))
}

// SignatureV3 returns the hex HMAC-SHA256 of stringToSign keyed with secret.
func SignatureV3(secret, stringToSign string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}

// NewNonce returns a random, version-4-shaped UUID for a signature nonce.
func NewNonce() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a nonce that
		// could repeat must never be sent, so stop here rather than guess.
		panic("signer: crypto/rand failed: " + err.Error())
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
