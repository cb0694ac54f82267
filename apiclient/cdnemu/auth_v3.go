package cdnemu

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// v3Request is what the signature V3 check of a request needs, kept from
// the HTTP request as it arrived ("Request syntax and signature method V3").
type v3Request struct {
	authorization string
	query         url.Values
	header        http.Header
	host          string
	path          string
	bodyHash      string
}

// isV3 reports a request signed with signature V3.
func isV3(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-")
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// v3Required are the headers every V3 request carries and signs.
var v3Required = []string{hdrAction, hdrVersion, hdrDate, hdrNonce, hdrContentSHA256}

// liftHeaders copies what V3 carries in headers into params under the v1
// names (Action, Version, AccessKeyId, SignatureNonce, Timestamp,
// SecurityToken, Signature), so that the handlers, the nonce check and the recording
// read one shape for both schemes.
func (v *v3Request) liftHeaders(params url.Values) {
	h := v.header
	v.authorization = h.Get("Authorization")
	for name, param := range map[string]string{
		hdrAction: "Action", hdrVersion: "Version", hdrNonce: "SignatureNonce",
		hdrDate: "Timestamp", hdrSecurityToken: "SecurityToken",
	} {
		if val := h.Get(name); val != "" {
			params.Set(param, val)
		}
	}
	if parts, err := parseAuthV3(v.authorization); err == nil {
		params.Set("AccessKeyId", parts.accessKeyID)
		params.Set("Signature", parts.signature)
	}
}

// authenticateV3 checks a V3 request with the codes a v1 one gets: a
// changed parameter, header or body is SignatureDoesNotMatch, an unknown
// key InvalidAccessKeyId.NotFound, a stale date InvalidTimeStamp.Expired.
func (e *Emulator) authenticateV3(req *request, now time.Time) *answer {
	v := req.v3
	parts, err := parseAuthV3(v.authorization)
	if err != nil {
		return fail("IncompleteSignature", "The Authorization header is malformed: want "+algorithmV3+" Credential=...,SignedHeaders=...,Signature=...")
	}
	if parts.algorithm != algorithmV3 {
		return fail("InvalidParameter", "Specified signature algorithm "+parts.algorithm+" is not supported; use "+algorithmV3+".")
	}
	for _, name := range v3Required {
		if v.header.Get(name) == "" {
			return missing(name)
		}
	}
	if a := checkAction(req.action, req.params.Get("Version")); a != nil {
		return a
	}
	key, ok := e.keys.lookup(parts.accessKeyID)
	if !ok {
		return fail("InvalidAccessKeyId.NotFound")
	}
	if a := checkTimestamp(v.header.Get(hdrDate), now); a != nil {
		return a
	}
	if !hmac.Equal([]byte(v.header.Get(hdrContentSHA256)), []byte(v.bodyHash)) {
		return fail("SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the request body.")
	}
	// Every header that takes part in a signature must be signed: an
	// unsigned x-acs-* header could be added or changed on the way.
	signed := map[string]bool{}
	for _, name := range parts.signedHeaders {
		signed[name] = true
	}
	if !signed["host"] {
		return fail("SignatureDoesNotMatch", "The host header is not signed.")
	}
	for name := range v.header {
		if l := strings.ToLower(name); (l == "content-type" || strings.HasPrefix(l, "x-acs-")) && !signed[l] {
			return fail("SignatureDoesNotMatch", "The "+l+" header is not signed.")
		}
	}
	if !slices.IsSorted(parts.signedHeaders) || len(slices.Compact(slices.Clone(parts.signedHeaders))) != len(parts.signedHeaders) {
		return fail("SignatureDoesNotMatch", "SignedHeaders must be lower case, sorted and unique.")
	}
	headers := map[string][]string{}
	for _, name := range parts.signedHeaders {
		if name != strings.ToLower(name) || !(name == "host" || name == "content-type" || strings.HasPrefix(name, "x-acs-")) {
			return fail("SignatureDoesNotMatch", "SignedHeaders must be lower case, sorted and unique.")
		}
		if name == "host" {
			headers["host"] = []string{v.host}
			continue
		}
		vals := v.header.Values(name)
		if len(vals) == 0 {
			return fail("SignatureDoesNotMatch", "The signed header "+name+" is missing.")
		}
		headers[name] = vals
	}
	want := expectedV3(req.method, v.path, v.query, headers, parts.signedHeaders, v.bodyHash, key.secret)
	if !hmac.Equal([]byte(strings.ToLower(parts.signature)), []byte(want)) {
		return fail("SignatureDoesNotMatch")
	}
	return key.checkToken(v.header.Get(hdrSecurityToken), now)
}
