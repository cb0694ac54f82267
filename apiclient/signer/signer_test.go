package signer

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The worked example of the Alibaba Cloud CDN API reference (API
// 2014-11-11), "Signature mechanism".
func TestSignatureV1SeedVector(t *testing.T) {
	t.Parallel()
	params := url.Values{
		"SignatureVersion": {"1.0"},
		"Format":           {"JSON"},
		"Timestamp":        {"2015-08-06T02:19:46Z"},
		"AccessKeyId":      {"testid"},
		"SignatureMethod":  {"HMAC-SHA1"},
		"Version":          {"2014-11-11"},
		"Action":           {"DescribeCdnService"},
		"SignatureNonce":   {"9b7a44b0-3be1-11e5-8c73-08002700c460"},
	}
	// The seed prints this string with the &s between pairs left bare; the
	// published signature is only reproduced with them encoded as %26, as
	// step 2 (percentEncode of the whole canonical string) says.
	wantSTS := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeCdnService%26Format%3DJSON%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D9b7a44b0-3be1-11e5-8c73-08002700c460%26SignatureVersion%3D1.0%26Timestamp%3D2015-08-06T02%253A19%253A46Z%26Version%3D2014-11-11"
	if got := StringToSignV1("GET", params); got != wantSTS {
		t.Fatalf("StringToSignV1:\n got %s\nwant %s", got, wantSTS)
	}
	if got, want := SignatureV1("GET", params, "testsecret"), "KkkQOf0ymKf4yVZLggy6kYiwgFs="; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	// A Signature among the parameters does not take part.
	params.Set("Signature", "x")
	if got := StringToSignV1("GET", params); got != wantSTS {
		t.Fatalf("StringToSignV1 with Signature:\n got %s", got)
	}
}

func TestSignV1ReproducesSeedVector(t *testing.T) {
	t.Parallel()
	got := Sign(Request{
		Method: "GET", Host: "cdn.aliyuncs.com", Scheme: V1, Version: "2014-11-11",
		Params:      url.Values{"Action": {"DescribeCdnService"}},
		AccessKeyID: "testid", AccessKeySecret: "testsecret",
		Time:  time.Date(2015, 8, 6, 2, 19, 46, 0, time.UTC),
		Nonce: "9b7a44b0-3be1-11e5-8c73-08002700c460",
	})
	q, err := url.ParseQuery(got.Query)
	if err != nil || q.Get("Signature") != "KkkQOf0ymKf4yVZLggy6kYiwgFs=" || got.Body != nil {
		t.Fatalf("query %q, body %q, err %v", got.Query, got.Body, err)
	}
	post := Sign(Request{Method: "POST", Scheme: V1, Params: url.Values{"Action": {"X"}}, AccessKeyID: "id", AccessKeySecret: "s", Nonce: "n",
		SecurityToken: "tok"})
	body, _ := url.ParseQuery(string(post.Body))
	if post.Query != "" || post.Headers["Content-Type"] != formContentType || body.Get("SecurityToken") != "tok" ||
		body.Get("Signature") != SignatureV1("POST", body, "s") {
		t.Fatalf("POST v1: %q %v", post.Body, post.Headers)
	}
}

func TestPercentEncode(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"abcXYZ019-_.~", "abcXYZ019-_.~"},
		{"a b", "a%20b"},
		{"*", "%2A"},
		{"~", "~"},
		{"+", "%2B"},
		{"/", "%2F"},
		{"é", "%C3%A9"},
		{"中", "%E4%B8%AD"},
		{"a\nb", "a%0Ab"},
		{"a\r\nb", "a%0D%0Ab"},
		{"%", "%25"},
		{"=&", "%3D%26"},
		{"", ""},
	}
	for _, c := range cases {
		if got := PercentEncode(c.in); got != c.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	q := url.Values{"b": {"2", "1"}, "a b": {""}, "Signature": {"s"}}
	if got, want := CanonicalQuery(q), "Signature=s&a%20b=&b=1&b=2"; got != want {
		t.Fatalf("CanonicalQuery = %q, want %q", got, want)
	}
	// Sorted by name, as the signature pages say: a name before a longer
	// one it starts, whatever follows it.
	q = url.Values{"Tag.1": {"x"}, "Tag": {"y"}, "Tag-a": {"z"}}
	if got, want := CanonicalQuery(q), "Tag=y&Tag-a=z&Tag.1=x"; got != want {
		t.Fatalf("CanonicalQuery = %q, want %q", got, want)
	}
}

// A newline-joined ObjectPath signs to something that changes with each
// path.
func TestSignatureV1ObjectPathWithNewlines(t *testing.T) {
	t.Parallel()
	p := url.Values{"Action": {"RefreshObjectCaches"}, "ObjectPath": {"example.com/a b.css\nexample.com/*.js\nexample.com/~x/中.png"}}
	sig := SignatureV1("POST", p, "s")
	p.Set("ObjectPath", strings.Replace(p.Get("ObjectPath"), "\n", "\r\n", 1))
	if SignatureV1("POST", p, "s") == sig {
		t.Fatal("same signature after the separator changed")
	}
}

func TestNonceUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 10000 {
		n := NewNonce()
		if len(n) != 36 || seen[n] {
			t.Fatalf("bad or repeated nonce %q", n)
		}
		seen[n] = true
	}
}

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

func v3Time() time.Time {
	t, _ := time.Parse(TimestampFormat, v3VectorDate)
	return t
}

func TestSignV3FormVector(t *testing.T) {
	t.Parallel()
	got := Sign(Request{
		Method: "POST", Host: "cdn.aliyuncs.com", Version: "2018-05-10",
		AccessKeyID: "testid", AccessKeySecret: "testsecret",
		Time: v3Time(), Nonce: "3156853299f313e23d1673dc12e1703d",
		Params: url.Values{
			"Action":     {"RefreshObjectCaches"},
			"ObjectPath": {"example.com/a b.css\nexample.com/~x/中.png"},
			"ObjectType": {"File"},
		},
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
	if got.Query != "" || got.Headers[HeaderAction] != "RefreshObjectCaches" || got.Headers[HeaderVersion] != "2018-05-10" {
		t.Fatalf("query %q, headers %v", got.Query, got.Headers)
	}
}

func TestSignV3QueryVectorWithToken(t *testing.T) {
	t.Parallel()
	params := url.Values{
		"Action":     {"DescribeRefreshTasks"},
		"PageSize":   {"20"},
		"ObjectPath": {"example.com/a b*~.css"},
		"DomainName": {"example.com"},
	}
	got := Sign(Request{
		Method: "GET", Host: "cdn.aliyuncs.com", Version: "2018-05-10", Scheme: V3,
		AccessKeyID: "STS.testid", AccessKeySecret: "stssecret", SecurityToken: "sts-token-value",
		Time: v3Time(), Nonce: "b9c8a3f0-1d2e-4f5a-8b7c-6d5e4f3a2b1c",
		Params: params,
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
	if params.Get("Action") != "DescribeRefreshTasks" {
		t.Fatal("Sign changed the caller's parameters")
	}
}

func BenchmarkSign(b *testing.B) {
	paths := make([]string, 1000)
	for i := range paths {
		paths[i] = "https://static.example.com/assets/app." + strings.Repeat("x", 20) + ".js"
	}
	r := Request{Method: "POST", Host: "cdn.aliyuncs.com", Version: "2018-05-10", AccessKeyID: "id", AccessKeySecret: "secret", Nonce: "n",
		Params: url.Values{"Action": {"RefreshObjectCaches"}, "ObjectPath": {strings.Join(paths, "\n")}}}
	b.Run("1000-urls", func(b *testing.B) {
		for b.Loop() {
			Sign(r)
		}
	})
	small := Request{Method: "GET", Host: "cdn.aliyuncs.com", Version: "2018-05-10", AccessKeyID: "id", AccessKeySecret: "secret", Nonce: "n",
		Params: url.Values{"Action": {"DescribeRefreshQuota"}}}
	b.Run("describe", func(b *testing.B) {
		for b.Loop() {
			Sign(small)
		}
	})
}
