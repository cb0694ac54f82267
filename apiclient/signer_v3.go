package apiclient

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Signature V3 (ACS3-HMAC-SHA256), as Alibaba Cloud's page "Request syntax
// and signature method V3" describes it: the request is reduced to a
// canonical request (method, path, sorted query, signed headers, hex
// SHA-256 of the body), whose hex SHA-256 is HMAC-SHA256'd with the secret.
// The official SDKs sign with it by default.

// SignatureAlgorithmV3 names the V3 algorithm in the Authorization header.
const SignatureAlgorithmV3 = "ACS3-HMAC-SHA256"

// Signature schemes a Client can sign with (cdn.signature).
const (
	SignatureV1 = "v1"
	SignatureV3 = "v3"
)

// The headers of a V3 request, lower case.
const (
	HeaderAction        = "x-acs-action"
	HeaderVersion       = "x-acs-version"
	HeaderDate          = "x-acs-date"
	HeaderNonce         = "x-acs-signature-nonce"
	HeaderContentSHA256 = "x-acs-content-sha256"
	HeaderSecurityToken = "x-acs-security-token"
)

// HashPayload returns the hex SHA-256 of body, the x-acs-content-sha256 of
// a V3 request (of the empty string when there is no body).
func HashPayload(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// CanonicalQueryV3 returns the V3 canonical query string: names and values
// percent-encoded (RFC 3986), pairs sorted by name then value, joined with
// &. A parameter without a value reads "name=".
func CanonicalQueryV3(q url.Values) string {
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		ek := PercentEncode(k)
		for _, v := range vs {
			pairs = append(pairs, ek+"="+PercentEncode(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// signsHeader reports whether a header takes part in a V3 signature.
func signsHeader(lower string) bool {
	return lower == "host" || lower == "content-type" || strings.HasPrefix(lower, "x-acs-")
}

// CanonicalHeadersV3 returns the canonical headers block ("name:value\n"
// for each signed header, names lower case and sorted, values trimmed,
// several values sorted and joined with ",") and the signed header names
// joined with ";". Headers other than host, content-type and x-acs-* are
// left out, as the SDKs do.
func CanonicalHeadersV3(headers map[string][]string) (canonical, signed string) {
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
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strings.Join(vs, ","))
		b.WriteByte('\n')
	}
	return b.String(), strings.Join(names, ";")
}

// CanonicalRequestV3 joins method, canonical URI (path, "/" when empty),
// canonical query, canonical headers, signed headers and the payload hash
// with newlines. It returns the canonical request and the signed headers.
func CanonicalRequestV3(method, path string, query url.Values, headers map[string][]string, payloadHash string) (string, string) {
	if path == "" {
		path = "/"
	}
	canonHeaders, signed := CanonicalHeadersV3(headers)
	return strings.ToUpper(method) + "\n" + path + "\n" + CanonicalQueryV3(query) + "\n" +
		canonHeaders + "\n" + signed + "\n" + payloadHash, signed
}

// StringToSignV3 is the algorithm, a newline and the hex SHA-256 of the
// canonical request.
func StringToSignV3(canonicalRequest string) string {
	return SignatureAlgorithmV3 + "\n" + HashPayload([]byte(canonicalRequest))
}

// SignV3 returns the hex HMAC-SHA256 of stringToSign keyed with secret.
func SignV3(secret, stringToSign string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}

// AuthorizationV3 builds the Authorization header value.
func AuthorizationV3(accessKeyID, signedHeaders, signature string) string {
	return SignatureAlgorithmV3 + " Credential=" + accessKeyID + ",SignedHeaders=" + signedHeaders + ",Signature=" + signature
}

// AuthorizationV3Parts are the fields of a V3 Authorization header.
type AuthorizationV3Parts struct {
	Algorithm     string
	AccessKeyID   string
	SignedHeaders []string
	Signature     string
}

// ErrMalformedAuthorization is returned by ParseAuthorizationV3 for a
// header that does not have the V3 shape.
var ErrMalformedAuthorization = errors.New("malformed Authorization header: want " +
	SignatureAlgorithmV3 + " Credential=<AccessKeyId>,SignedHeaders=<a;b>,Signature=<hex>")

// ParseAuthorizationV3 splits an Authorization header into its fields. It
// checks the shape only, not the algorithm's name.
func ParseAuthorizationV3(h string) (AuthorizationV3Parts, error) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg == "" {
		return AuthorizationV3Parts{}, ErrMalformedAuthorization
	}
	p := AuthorizationV3Parts{Algorithm: alg}
	seen := map[string]bool{}
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || seen[k] {
			return AuthorizationV3Parts{}, ErrMalformedAuthorization
		}
		seen[k] = true
		switch k {
		case "Credential":
			p.AccessKeyID = v
		case "SignedHeaders":
			if v != "" {
				p.SignedHeaders = strings.Split(v, ";")
			}
		case "Signature":
			p.Signature = v
		default:
			return AuthorizationV3Parts{}, fmt.Errorf("%w (unknown field %q)", ErrMalformedAuthorization, k)
		}
	}
	if p.AccessKeyID == "" || p.Signature == "" || len(p.SignedHeaders) == 0 {
		return AuthorizationV3Parts{}, ErrMalformedAuthorization
	}
	return p, nil
}

// FormEncode encodes params as an application/x-www-form-urlencoded body
// with RFC 3986 percent-encoding (a space is %20), pairs sorted, so that a
// body and its hash are the same on every run.
func FormEncode(params url.Values) string { return CanonicalQueryV3(params) }
