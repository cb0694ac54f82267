package apiclient

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The worked example of the Alibaba Cloud CDN API reference (API 2014-11-11), "Signature mechanism".
func TestSignV1SeedVector(t *testing.T) {
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
	if got := StringToSign("GET", params); got != wantSTS {
		t.Fatalf("StringToSign:\n got %s\nwant %s", got, wantSTS)
	}
	if got, want := SignV1("GET", params, "testsecret"), "KkkQOf0ymKf4yVZLggy6kYiwgFs="; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
}

func TestSignerSignReproducesSeedVector(t *testing.T) {
	s := &Signer{
		Credentials: Credentials{AccessKeyID: "testid", AccessKeySecret: "testsecret"},
		Version:     "2014-11-11",
		Now:         func() time.Time { return time.Date(2015, 8, 6, 2, 19, 46, 0, time.UTC) },
		Nonce:       func() string { return "9b7a44b0-3be1-11e5-8c73-08002700c460" },
	}
	signed := s.Sign("GET", url.Values{"Action": {"DescribeCdnService"}})
	if got := signed.Get("Signature"); got != "KkkQOf0ymKf4yVZLggy6kYiwgFs=" {
		t.Fatalf("Signature = %s", got)
	}
	if !VerifyV1("GET", signed, "testsecret") {
		t.Fatal("VerifyV1 refused its own signature")
	}
	if VerifyV1("POST", signed, "testsecret") {
		t.Fatal("VerifyV1 accepted the signature under another method")
	}
}

func TestPercentEncode(t *testing.T) {
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

// A newline-joined ObjectPath signs to something that changes with each path
// and verifies only with the same paths.
func TestSignObjectPathWithNewlines(t *testing.T) {
	p := url.Values{"Action": {"RefreshObjectCaches"}, "ObjectPath": {"example.com/a b.css\nexample.com/*.js\nexample.com/~x/中.png"}}
	sig := SignV1("POST", p, "s")
	p.Set("Signature", sig)
	if !VerifyV1("POST", p, "s") {
		t.Fatal("did not verify")
	}
	p.Set("ObjectPath", strings.Replace(p.Get("ObjectPath"), "\n", "\r\n", 1))
	if VerifyV1("POST", p, "s") {
		t.Fatal("verified after the separator changed")
	}
}

func TestNonceUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		n := NewNonce()
		if len(n) != 36 || seen[n] {
			t.Fatalf("bad or repeated nonce %q", n)
		}
		seen[n] = true
	}
}

func TestCredentialsNeverPrintSecret(t *testing.T) {
	c := Credentials{AccessKeyID: "id", AccessKeySecret: "topsecret", SecurityToken: "tok3n"}
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		if strings.Contains(s, "topsecret") || strings.Contains(s, "tok3n") {
			t.Fatalf("secret leaked: %s", s)
		}
	}
	if _, err := CredentialsFromEnv(func(k string) string {
		if k == EnvAccessKeySecret {
			return "topsecret"
		}
		return ""
	}); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("missing key ID: err = %v", err)
	}
}

func FuzzSignVerifyRoundTrip(f *testing.F) {
	f.Add("RefreshObjectCaches", "example.com/a.css\nexample.com/b.js", "secret", "POST")
	f.Add("DescribeCdnService", "", "testsecret", "GET")
	f.Add("X", "a b*~%+\r\n中", "s&k", "POST")
	f.Fuzz(func(t *testing.T, action, path, secret, method string) {
		s := &Signer{Credentials: Credentials{AccessKeyID: "id", AccessKeySecret: secret}, Version: "2018-05-10"}
		signed := s.Sign(method, url.Values{"Action": {action}, "ObjectPath": {path}})
		if !VerifyV1(method, signed, secret) {
			t.Fatalf("round trip failed for %q", path)
		}
		// Through the wire: encode as a form and parse back, as a server does.
		back, err := url.ParseQuery(signed.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !VerifyV1(method, back, secret) {
			t.Fatalf("round trip through form encoding failed for %q", path)
		}
		back.Set("ObjectPath", path+"x")
		if VerifyV1(method, back, secret) {
			t.Fatal("a changed parameter still verified")
		}
	})
}
