package cdnemu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/apiclient/signer"
)

// v3Send signs one call with signature V3 (the client's signer, checked
// against the official SDK's vectors, as verify_test.go checks the
// emulator's side), lets tamper change the HTTP
// request and sends it.
func v3Send(t *testing.T, s *Server, clock *Clock, cr credentials.Credentials, method string, params url.Values, tamper func(*http.Request)) result {
	t.Helper()
	version := "2018-05-10"
	if v := params.Get("Version"); v != "" {
		version = v
		params.Del("Version")
	}
	u, _ := url.Parse(s.URL)
	signed := signer.Sign(signer.Request{Method: method, Host: u.Host, Params: params, Version: version,
		AccessKeyID: cr.AccessKeyID, AccessKeySecret: cr.AccessKeySecret, SecurityToken: cr.SecurityToken,
		Time: clock.Now(), Nonce: signer.NewNonce()})
	target := s.URL + "/"
	if signed.Query != "" {
		target += "?" + signed.Query
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(signed.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range signed.Headers {
		req.Header.Set(k, v)
	}
	if tamper != nil {
		tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("answer is not JSON: %s", raw)
	}
	r.code, _ = r.body["Code"].(string)
	return r
}

var defaultCreds = credentials.Credentials{AccessKeyID: DefaultAccessKeyID, AccessKeySecret: DefaultAccessKeySecret}

func refreshParams() url.Values {
	return url.Values{"Action": {"RefreshObjectCaches"}, "ObjectPath": {"example.com/a.css\nexample.com/b c.js"}}
}

// The official SDK's request of the V3 vector A (apiclient's tests keep
// its Authorization) is accepted as it was sent, at its date.
func TestV3SDKVectorAccepted(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestServer(t, Options{})
	clock.Set(time.Date(2025, 3, 1, 8, 9, 10, 0, time.UTC))
	body := "ObjectPath=example.com%2Fa%20b.css%0Aexample.com%2F~x%2F%E4%B8%AD.png&ObjectType=File"
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	req.Host = "cdn.aliyuncs.com"
	for k, v := range map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "x-acs-action": "RefreshObjectCaches", "x-acs-version": "2018-05-10",
		"x-acs-date": "2025-03-01T08:09:10Z", "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
		"x-acs-content-sha256": "a624e92db62bbd9af83c62151f65d5d06c6ae26978d9e045bf045c28f03092e6",
		"Authorization":        "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=3e9f4509d65808daa7843d3fb6bb17044698f1a0f0a173a946d065e8a2532b60",
	} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("SDK vector refused: %d %s", resp.StatusCode, raw)
	}
	if got := s.Paths("RefreshObjectCaches"); len(got) != 2 || got[1] != "example.com/~x/中.png" {
		t.Fatalf("Paths = %q", got)
	}
}

func TestV3AcceptedBothWays(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestServer(t, Options{})
	v3Send(t, s, clock, defaultCreds, http.MethodPost, refreshParams(), nil).wantOK(t)
	v3Send(t, s, clock, defaultCreds, http.MethodGet, url.Values{"Action": {"DescribeRefreshQuota"}}, nil).wantOK(t)
	v3Send(t, s, clock, defaultCreds, http.MethodGet, url.Values{"Action": {"DescribeCdnService"}, "Version": {"2014-11-11"}}, nil).wantOK(t)
	if n := len(s.Nonces()); n != 3 {
		t.Fatalf("%d nonces recorded, want 3", n)
	}
}

// A V3 call changed on the way is refused with the codes a v1 call gets.
func TestV3Tampered(t *testing.T) {
	t.Parallel()
	setBody := func(r *http.Request, b string) {
		r.Body = io.NopCloser(strings.NewReader(b))
		r.ContentLength = int64(len(b))
	}
	cases := []struct {
		name   string
		creds  credentials.Credentials
		method string
		tamper func(*http.Request)
		status int
		code   string
	}{
		{"body byte", defaultCreds, http.MethodPost, func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			setBody(r, strings.Replace(string(b), "a.css", "b.css", 1))
		}, 400, "SignatureDoesNotMatch"},
		{"body and its hash", defaultCreds, http.MethodPost, func(r *http.Request) {
			b := "ObjectPath=example.com%2Fevil.css"
			setBody(r, b)
			r.Header.Set(hdrContentSHA256, sha256Hex([]byte(b)))
		}, 400, "SignatureDoesNotMatch"},
		{"signed header", defaultCreds, http.MethodPost, func(r *http.Request) { r.Header.Set(hdrAction, "PushObjectCache") }, 400, "SignatureDoesNotMatch"},
		{"unsigned x-acs header", defaultCreds, http.MethodPost, func(r *http.Request) { r.Header.Set("x-acs-extra", "1") }, 400, "SignatureDoesNotMatch"},
		{"query added", defaultCreds, http.MethodGet, func(r *http.Request) { r.URL.RawQuery += "&PageSize=100" }, 400, "SignatureDoesNotMatch"},
		{"host", defaultCreds, http.MethodPost, func(r *http.Request) { r.Host = "cdn.aliyuncs.com" }, 400, "SignatureDoesNotMatch"},
		{"signature", defaultCreds, http.MethodPost, func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", a[len(a)-1])+1)%16]))
		}, 400, "SignatureDoesNotMatch"},
		{"wrong secret", credentials.Credentials{AccessKeyID: DefaultAccessKeyID, AccessKeySecret: "nope"}, http.MethodPost, nil, 400, "SignatureDoesNotMatch"},
		{"unknown key", credentials.Credentials{AccessKeyID: "who", AccessKeySecret: "x"}, http.MethodPost, nil, 404, "InvalidAccessKeyId.NotFound"},
		{"stale date", defaultCreds, http.MethodPost, func(r *http.Request) {
			r.Header.Set(hdrDate, startAt.Add(-16*time.Minute).UTC().Format(timestampFormat))
		}, 400, "InvalidTimeStamp.Expired"},
		{"missing nonce", defaultCreds, http.MethodPost, func(r *http.Request) { r.Header.Del(hdrNonce) }, 400, "MissingParameter"},
		{"malformed authorization", defaultCreds, http.MethodPost, func(r *http.Request) { r.Header.Set("Authorization", "ACS3-HMAC-SHA256 junk") }, 400, "IncompleteSignature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, _, clock := newTestServer(t, Options{})
			p := refreshParams()
			if c.method == http.MethodGet {
				p = url.Values{"Action": {"DescribeRefreshTasks"}, "PageSize": {"10"}}
			}
			v3Send(t, s, clock, c.creds, c.method, p, c.tamper).wantErr(t, c.status, c.code)
			if got := s.Paths("RefreshObjectCaches"); len(got) != 0 {
				t.Fatalf("a refused call refreshed %q", got)
			}
		})
	}
}

func TestV3NonceReuse(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestServer(t, Options{})
	u, _ := url.Parse(s.URL)
	for i, want := range []string{"", "SignatureNonceUsed"} {
		signed := signer.Sign(signer.Request{Method: http.MethodGet, Host: u.Host, Params: url.Values{"Action": {"DescribeRefreshQuota"}},
			Version: "2018-05-10", AccessKeyID: defaultCreds.AccessKeyID, AccessKeySecret: defaultCreds.AccessKeySecret,
			Time: clock.Now(), Nonce: "same"})
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
		for k, v := range signed.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if code, _ := body["Code"].(string); code != want {
			t.Fatalf("call %d: code %q, want %q", i, code, want)
		}
	}
}

// Keys added at run time work at once; removed ones are refused, as after
// a rotation.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestServer(t, Options{})
	next := credentials.Credentials{AccessKeyID: "next", AccessKeySecret: "next-secret"}
	v3Send(t, s, clock, next, http.MethodPost, refreshParams(), nil).wantErr(t, 404, "InvalidAccessKeyId.NotFound")
	s.AddKey(next.AccessKeyID, next.AccessKeySecret)
	v3Send(t, s, clock, next, http.MethodPost, refreshParams(), nil).wantOK(t)
	s.RemoveKey(DefaultAccessKeyID)
	v3Send(t, s, clock, defaultCreds, http.MethodPost, refreshParams(), nil).wantErr(t, 404, "InvalidAccessKeyId.NotFound")
}

// Whatever arrives in a V3 Authorization header, headers or body, the
// emulator answers without panicking and never accepts an unsigned call.
func FuzzV3Request(f *testing.F) {
	f.Add("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action,Signature=00", "RefreshObjectCaches", "ObjectPath=example.com%2Fa", "2018-05-10")
	f.Add("ACS3-HMAC-SHA256 Credential=,SignedHeaders=;;,Signature=", "", "", "")
	f.Add("ACS3-x Credential=a,Credential=b", "AssumeRole", "%zz", "2015-04-01")
	e, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth, action, body, version string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(hdrAction, action)
		req.Header.Set(hdrVersion, version)
		req.Header.Set(hdrDate, time.Now().UTC().Format(timestampFormat))
		req.Header.Set(hdrNonce, "n-"+auth)
		req.Header.Set(hdrContentSHA256, sha256Hex([]byte(body)))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK && action != "AssumeRoleWithOIDC" {
			t.Fatalf("an unsigned V3 call was accepted: %s", rec.Body)
		}
	})
}
