package cdnemu

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
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
var v3Required = []string{apiclient.HeaderAction, apiclient.HeaderVersion, apiclient.HeaderDate, apiclient.HeaderNonce, apiclient.HeaderContentSHA256}

// liftHeaders copies what V3 carries in headers into params under the v1
// names (Action, Version, AccessKeyId, SignatureNonce, Timestamp,
// SecurityToken, Signature), so that the handlers, the nonce check and the recording
// read one shape for both schemes.
func (v *v3Request) liftHeaders(params url.Values) {
	h := v.header
	v.authorization = h.Get("Authorization")
	for name, param := range map[string]string{
		apiclient.HeaderAction: "Action", apiclient.HeaderVersion: "Version", apiclient.HeaderNonce: "SignatureNonce",
		apiclient.HeaderDate: "Timestamp", apiclient.HeaderSecurityToken: "SecurityToken",
	} {
		if val := h.Get(name); val != "" {
			params.Set(param, val)
		}
	}
	if parts, err := apiclient.ParseAuthorizationV3(v.authorization); err == nil {
		params.Set("AccessKeyId", parts.AccessKeyID)
		params.Set("Signature", parts.Signature)
	}
}

// authenticateV3 checks a V3 request with the codes a v1 one gets: a
// changed parameter, header or body is SignatureDoesNotMatch, an unknown
// key InvalidAccessKeyId.NotFound, a stale date InvalidTimeStamp.Expired.
func (e *Emulator) authenticateV3(req *request, now time.Time) *answer {
	v := req.v3
	parts, err := apiclient.ParseAuthorizationV3(v.authorization)
	if err != nil {
		return fail("IncompleteSignature", "The Authorization header is malformed: want "+apiclient.SignatureAlgorithmV3+" Credential=...,SignedHeaders=...,Signature=...")
	}
	if parts.Algorithm != apiclient.SignatureAlgorithmV3 {
		return fail("InvalidParameter", "Specified signature algorithm "+parts.Algorithm+" is not supported; use "+apiclient.SignatureAlgorithmV3+".")
	}
	for _, name := range v3Required {
		if v.header.Get(name) == "" {
			return missing(name)
		}
	}
	if a := checkAction(req.action, req.params.Get("Version")); a != nil {
		return a
	}
	key, ok := e.keys.lookup(parts.AccessKeyID)
	if !ok {
		return fail("InvalidAccessKeyId.NotFound")
	}
	if a := checkTimestamp(v.header.Get(apiclient.HeaderDate), now); a != nil {
		return a
	}
	if !hmac.Equal([]byte(v.header.Get(apiclient.HeaderContentSHA256)), []byte(v.bodyHash)) {
		return fail("SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the request body.")
	}
	// Every header that takes part in a signature must be signed: an
	// unsigned x-acs-* header could be added or changed on the way.
	signed := map[string]bool{}
	for _, name := range parts.SignedHeaders {
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
	headers := map[string][]string{}
	for _, name := range parts.SignedHeaders {
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
	canon, signedList := apiclient.CanonicalRequestV3(req.method, v.path, v.query, headers, v.bodyHash)
	if signedList != strings.Join(parts.SignedHeaders, ";") {
		return fail("SignatureDoesNotMatch", "SignedHeaders must be lower case, sorted and unique.")
	}
	want := apiclient.SignV3(key.secret, apiclient.StringToSignV3(canon))
	if !hmac.Equal([]byte(strings.ToLower(parts.Signature)), []byte(want)) {
		return fail("SignatureDoesNotMatch")
	}
	return key.checkToken(v.header.Get(apiclient.HeaderSecurityToken), now)
}
