package cdnemu

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"sort"
	"strings"
)

// The emulator checks signatures with this file's code only: it shares no
// signing code with the client (apiclient/signer), so that a bug on one
// side is a SignatureDoesNotMatch in the tests rather than the same
// mistake made twice. Both sides are held to the same published vectors
// (verify_test.go here, signer_test.go there). The percent-encoding below
// is the SDKs' classic form (url.QueryEscape, then +, * and %7E fixed up),
// not the client's byte loop.

// The headers of a V3 request, lower case ("Request syntax and signature
// method V3").
const (
	hdrAction        = "x-acs-action"
	hdrVersion       = "x-acs-version"
	hdrDate          = "x-acs-date"
	hdrNonce         = "x-acs-signature-nonce"
	hdrContentSHA256 = "x-acs-content-sha256"
	hdrSecurityToken = "x-acs-security-token"
	algorithmV3      = "ACS3-HMAC-SHA256"
)

// encodeRFC3986 percent-encodes s: unreserved characters stay, a space is %20.
func encodeRFC3986(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(e)
}

// sortedPairs returns "name=value" for every value of every parameter but
// skip, both encoded, sorted by name then value.
func sortedPairs(p url.Values, skip string) string {
	names := make([]string, 0, len(p))
	for k := range p {
		if k != skip {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return encodeRFC3986(names[i]) < encodeRFC3986(names[j]) })
	var parts []string
	for _, k := range names {
		vals := make([]string, len(p[k]))
		for i, v := range p[k] {
			vals[i] = encodeRFC3986(v)
		}
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, encodeRFC3986(k)+"="+v)
		}
	}
	return strings.Join(parts, "&")
}

// validV1 reports whether p carries the v1 signature of method and p
// under secret ("Signature mechanism", API 2014-11-11).
func validV1(method string, p url.Values, secret string) bool {
	got := p.Get("Signature")
	if got == "" {
		return false
	}
	toSign := strings.ToUpper(method) + "&%2F&" + encodeRFC3986(sortedPairs(p, "Signature"))
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(toSign))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(got), []byte(want))
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// authV3 are the fields of a V3 Authorization header.
type authV3 struct {
	algorithm     string
	accessKeyID   string
	signedHeaders []string
	signature     string
}

var errAuthShape = errors.New("malformed Authorization header")

// parseAuthV3 splits "ACS3-HMAC-SHA256 Credential=..,SignedHeaders=a;b,Signature=..".
// It checks the shape only, not the algorithm's name.
func parseAuthV3(h string) (authV3, error) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg == "" {
		return authV3{}, errAuthShape
	}
	a := authV3{algorithm: alg}
	seen := map[string]bool{}
	for _, f := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || seen[k] {
			return authV3{}, errAuthShape
		}
		seen[k] = true
		switch k {
		case "Credential":
			a.accessKeyID = v
		case "SignedHeaders":
			if v != "" {
				a.signedHeaders = strings.Split(v, ";")
			}
		case "Signature":
			a.signature = v
		default:
			return authV3{}, errAuthShape
		}
	}
	if a.accessKeyID == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return authV3{}, errAuthShape
	}
	return a, nil
}

// expectedV3 returns the hex signature a V3 request must carry: the
// HMAC-SHA256 under secret of the algorithm and the hex SHA-256 of the
// canonical request built from the headers a.signedHeaders names, in the
// order given (the caller checks they are sorted). headers maps a lower
// case name to its values.
func expectedV3(method, path string, query url.Values, headers map[string][]string, signed []string, bodyHash, secret string) string {
	if path == "" {
		path = "/"
	}
	var canon strings.Builder
	canon.WriteString(strings.ToUpper(method) + "\n" + path + "\n" + sortedPairs(query, "") + "\n")
	for _, name := range signed {
		vals := make([]string, 0, len(headers[name]))
		for _, v := range headers[name] {
			vals = append(vals, strings.TrimSpace(v))
		}
		sort.Strings(vals)
		canon.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	canon.WriteString("\n" + strings.Join(signed, ";") + "\n" + bodyHash)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(algorithmV3 + "\n" + sha256Hex([]byte(canon.String()))))
	return hex.EncodeToString(mac.Sum(nil))
}
