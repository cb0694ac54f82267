package apiclient

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The V3 vectors below were computed independently of this package, with
// the official SDK's signing function (alibabacloud-go openapi-util
// GetAuthorization, ACS3-HMAC-SHA256) run once outside the repository; only
// the resulting strings are kept.
const (
	v3VectorDate = "2025-03-01T08:09:10Z"
	// A: POST form body, long-lived key.
	v3VectorABody = "ObjectPath=example.com%2Fa%20b.css%0Aexample.com%2F~x%2F%E4%B8%AD.png&ObjectType=File"
	v3VectorAHash = "a624e92db62bbd9af83c62151f65d5d06c6ae26978d9e045bf045c28f03092e6"
	v3VectorAAuth = "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=3e9f4509d65808daa7843d3fb6bb17044698f1a0f0a173a946d065e8a2532b60"
	// B: GET with a query, STS key with its token.
	v3VectorBAuth = "ACS3-HMAC-SHA256 Credential=STS.testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=521c672661cf8ad2cf74177910ca77ed26d0ca85fc5cc8df63818dcdddde94e3"
)

func v3Clock() time.Time {
	t, _ := time.Parse(TimestampFormat, v3VectorDate)
	return t
}

func TestSignV3FormVector(t *testing.T) {
	t.Parallel()
	s := &Signer{
		Credentials: Credentials{AccessKeyID: "testid", AccessKeySecret: "testsecret"},
		Version:     VersionCurrent,
		Now:         v3Clock,
		Nonce:       func() string { return "3156853299f313e23d1673dc12e1703d" },
	}
	got := s.SignRequest("POST", "cdn.aliyuncs.com", url.Values{
		"Action":     {"RefreshObjectCaches"},
		"ObjectPath": {"example.com/a b.css\nexample.com/~x/中.png"},
		"ObjectType": {"File"},
	})
	if string(got.Body) != v3VectorABody {
		t.Fatalf("body:\n got %s\nwant %s", got.Body, v3VectorABody)
	}
	if h := got.Headers[HeaderContentSHA256]; h != v3VectorAHash {
		t.Fatalf("x-acs-content-sha256 = %s, want %s", h, v3VectorAHash)
	}
	if a := got.Headers["Authorization"]; a != v3VectorAAuth {
		t.Fatalf("Authorization:\n got %s\nwant %s", a, v3VectorAAuth)
	}
	if got.Query != "" || got.Headers[HeaderAction] != "RefreshObjectCaches" || got.Headers[HeaderVersion] != VersionCurrent {
		t.Fatalf("query %q, headers %v", got.Query, got.Headers)
	}
}

func TestSignV3QueryVectorWithToken(t *testing.T) {
	t.Parallel()
	s := &Signer{
		Credentials: Credentials{AccessKeyID: "STS.testid", AccessKeySecret: "stssecret", SecurityToken: "sts-token-value"},
		Version:     VersionCurrent,
		Now:         v3Clock,
		Nonce:       func() string { return "b9c8a3f0-1d2e-4f5a-8b7c-6d5e4f3a2b1c" },
	}
	got := s.SignRequest("GET", "cdn.aliyuncs.com", url.Values{
		"Action":     {"DescribeRefreshTasks"},
		"PageSize":   {"20"},
		"ObjectPath": {"example.com/a b*~.css"},
		"DomainName": {"example.com"},
	})
	if a := got.Headers["Authorization"]; a != v3VectorBAuth {
		t.Fatalf("Authorization:\n got %s\nwant %s", a, v3VectorBAuth)
	}
	if got.Headers[HeaderSecurityToken] != "sts-token-value" || got.Body != nil {
		t.Fatalf("token header %q, body %q", got.Headers[HeaderSecurityToken], got.Body)
	}
	if want := "DomainName=example.com&ObjectPath=example.com%2Fa%20b%2A~.css&PageSize=20"; got.Query != want {
		t.Fatalf("query %s, want %s", got.Query, want)
	}
}

// The scheme follows the API version unless one is named, and each call
// takes a fresh nonce and date.
func TestSignerSchemeAndFreshNonce(t *testing.T) {
	t.Parallel()
	cr := Credentials{AccessKeyID: "id", AccessKeySecret: "s"}
	legacy := (&Signer{Credentials: cr, Version: VersionLegacy}).SignRequest("POST", "h", url.Values{"Action": {"X"}})
	if !strings.Contains(string(legacy.Body), "SignatureMethod=HMAC-SHA1") || legacy.Headers["Authorization"] != "" {
		t.Fatalf("2014-11-11 not signed with v1: %s %v", legacy.Body, legacy.Headers)
	}
	forced := (&Signer{Credentials: cr, Version: VersionCurrent, Scheme: SignatureV1}).SignRequest("GET", "h", url.Values{"Action": {"X"}})
	if !strings.Contains(forced.Query, "Signature=") {
		t.Fatalf("cdn.signature v1 ignored: %q", forced.Query)
	}
	s := &Signer{Credentials: cr, Version: VersionCurrent}
	a := s.SignRequest("POST", "h", url.Values{"Action": {"X"}})
	b := s.SignRequest("POST", "h", url.Values{"Action": {"X"}})
	if a.Headers[HeaderNonce] == b.Headers[HeaderNonce] || a.Headers["Authorization"] == b.Headers["Authorization"] {
		t.Fatal("two V3 signatures share a nonce")
	}
}

func TestParseAuthorizationV3(t *testing.T) {
	t.Parallel()
	p, err := ParseAuthorizationV3(v3VectorBAuth)
	if err != nil || p.AccessKeyID != "STS.testid" || len(p.SignedHeaders) != 7 || p.Algorithm != SignatureAlgorithmV3 {
		t.Fatalf("parse = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "ACS3-HMAC-SHA256", "ACS3-HMAC-SHA256 Credential=a", "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=x,Extra=1",
		"ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=host,Signature=x"} {
		if _, err := ParseAuthorizationV3(bad); err == nil {
			t.Errorf("ParseAuthorizationV3(%q) accepted", bad)
		}
	}
}

func FuzzParseAuthorizationV3(f *testing.F) {
	f.Add(v3VectorAAuth)
	f.Add("ACS3-HMAC-SHA256 Credential=,SignedHeaders=;,Signature=")
	f.Add("x y=z")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseAuthorizationV3(s)
		if err != nil {
			return
		}
		if p.AccessKeyID == "" || p.Signature == "" || len(p.SignedHeaders) == 0 {
			t.Fatalf("accepted an incomplete header: %+v", p)
		}
	})
}
