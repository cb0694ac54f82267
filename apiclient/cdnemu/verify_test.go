package cdnemu

import (
	"net/url"
	"testing"
)

// The emulator's verifier against the published vectors the client's
// signer is held to (apiclient/signer/signer_test.go): the v1 worked
// example of the CDN API reference (API 2014-11-11), "Signature
// mechanism", and two V3 requests signed with the official SDK's
// ACS3-HMAC-SHA256 function outside the repository.

func TestValidV1SeedVector(t *testing.T) {
	t.Parallel()
	p := url.Values{
		"SignatureVersion": {"1.0"},
		"Format":           {"JSON"},
		"Timestamp":        {"2015-08-06T02:19:46Z"},
		"AccessKeyId":      {"testid"},
		"SignatureMethod":  {"HMAC-SHA1"},
		"Version":          {"2014-11-11"},
		"Action":           {"DescribeCdnService"},
		"SignatureNonce":   {"9b7a44b0-3be1-11e5-8c73-08002700c460"},
		"Signature":        {"KkkQOf0ymKf4yVZLggy6kYiwgFs="},
	}
	if !validV1("GET", p, "testsecret") {
		t.Fatal("the published v1 example does not verify")
	}
	if validV1("POST", p, "testsecret") || validV1("GET", p, "other") {
		t.Fatal("verified under another method or secret")
	}
	p.Set("Timestamp", "2015-08-06T02:19:47Z")
	if validV1("GET", p, "testsecret") {
		t.Fatal("verified after a parameter changed")
	}
}

func TestEncodeRFC3986(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"abcXYZ019-_.~": "abcXYZ019-_.~", "a b": "a%20b", "*": "%2A", "+": "%2B", "/": "%2F",
		"中": "%E4%B8%AD", "a\r\nb": "a%0D%0Ab", "%": "%25", "=&": "%3D%26",
	} {
		if got := encodeRFC3986(in); got != want {
			t.Errorf("encodeRFC3986(%q) = %q, want %q", in, got, want)
		}
	}
}

const v3Date = "2025-03-01T08:09:10Z"

func TestExpectedV3Vectors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, secret, bodyHash, want string
		query                                url.Values
		headers                              map[string][]string
	}{{
		name: "POST form body", method: "POST", secret: "testsecret",
		bodyHash: "a624e92db62bbd9af83c62151f65d5d06c6ae26978d9e045bf045c28f03092e6",
		want:     "3e9f4509d65808daa7843d3fb6bb17044698f1a0f0a173a946d065e8a2532b60",
		headers: map[string][]string{
			"content-type": {"application/x-www-form-urlencoded"}, "host": {"cdn.aliyuncs.com"},
			hdrAction: {"RefreshObjectCaches"}, hdrContentSHA256: {"a624e92db62bbd9af83c62151f65d5d06c6ae26978d9e045bf045c28f03092e6"},
			hdrDate: {v3Date}, hdrNonce: {"3156853299f313e23d1673dc12e1703d"}, hdrVersion: {"2018-05-10"},
		},
	}, {
		name: "GET with an STS token", method: "GET", secret: "stssecret",
		bodyHash: sha256Hex(nil),
		want:     "521c672661cf8ad2cf74177910ca77ed26d0ca85fc5cc8df63818dcdddde94e3",
		query:    url.Values{"PageSize": {"20"}, "ObjectPath": {"example.com/a b*~.css"}, "DomainName": {"example.com"}},
		headers: map[string][]string{
			"host": {"cdn.aliyuncs.com"}, hdrAction: {"DescribeRefreshTasks"}, hdrContentSHA256: {sha256Hex(nil)},
			hdrDate: {v3Date}, hdrSecurityToken: {"sts-token-value"}, hdrNonce: {"b9c8a3f0-1d2e-4f5a-8b7c-6d5e4f3a2b1c"},
			hdrVersion: {"2018-05-10"},
		},
	}}
	for _, c := range cases {
		var signed []string
		for _, h := range []string{"content-type", "host", hdrAction, hdrContentSHA256, hdrDate, hdrSecurityToken, hdrNonce, hdrVersion} {
			if _, ok := c.headers[h]; ok {
				signed = append(signed, h)
			}
		}
		if got := expectedV3(c.method, "/", c.query, c.headers, signed, c.bodyHash, c.secret); got != c.want {
			t.Errorf("%s: signature %s, want %s", c.name, got, c.want)
		}
	}
	if sha256Hex([]byte("ObjectPath=example.com%2Fa%20b.css%0Aexample.com%2F~x%2F%E4%B8%AD.png&ObjectType=File")) != cases[0].bodyHash {
		t.Error("body hash of vector A differs")
	}
}

func TestParseAuthV3(t *testing.T) {
	t.Parallel()
	a, err := parseAuthV3("ACS3-HMAC-SHA256 Credential=STS.testid,SignedHeaders=host;x-acs-action,Signature=ab")
	if err != nil || a.accessKeyID != "STS.testid" || len(a.signedHeaders) != 2 || a.algorithm != algorithmV3 || a.signature != "ab" {
		t.Fatalf("parse = %+v, %v", a, err)
	}
	for _, bad := range []string{"", "ACS3-HMAC-SHA256", "ACS3-HMAC-SHA256 Credential=a", "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=x,Extra=1",
		"ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=host,Signature=x"} {
		if _, err := parseAuthV3(bad); err == nil {
			t.Errorf("parseAuthV3(%q) accepted", bad)
		}
	}
}

func TestSortedPairsByName(t *testing.T) {
	t.Parallel()
	q := url.Values{"Tag.1": {"x"}, "Tag": {"y"}, "Tag-a": {"z"}, "b": {"2", "1"}}
	if got, want := sortedPairs(q, ""), "Tag=y&Tag-a=z&Tag.1=x&b=1&b=2"; got != want {
		t.Fatalf("sortedPairs = %q, want %q", got, want)
	}
}
