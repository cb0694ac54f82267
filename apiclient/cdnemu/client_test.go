package cdnemu

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// The test client signs requests on its own, from the Alibaba Cloud CDN API reference (API 2014-11-11), "Signature mechanism", so
// that the emulator is checked against the protocol rather than against
// apiclient's signer.

// rfc3986 percent-encodes s: the form encoding of net/url, with the three
// fix-ups the seed lists for form encoders.
func rfc3986(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// testSign returns the base64 HMAC-SHA1 of the string to sign.
func testSign(method string, params map[string]string, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = rfc3986(k) + "=" + rfc3986(params[k])
	}
	sts := method + "&" + rfc3986("/") + "&" + rfc3986(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// mode is how a call carries its parameters.
type mode int

const (
	viaGET   mode = iota // everything in the query string
	viaForm              // POST, everything in the form body
	viaSplit             // POST, common parameters in the query, the rest in the body
)

func (m mode) String() string { return [...]string{"GET", "POST form", "POST split"}[m] }

// testClient calls an emulator over HTTP.
type testClient struct {
	t       testing.TB
	base    string
	id      string
	secret  string
	version string
	clock   *Clock
	nonce   int
	mode    mode
}

func newTestClient(t testing.TB, base string, clock *Clock) *testClient {
	return &testClient{t: t, base: base, id: DefaultAccessKeyID, secret: DefaultAccessKeySecret, version: "2018-05-10", clock: clock}
}

// params returns the common parameters of a fresh call plus kv pairs.
func (c *testClient) params(action string, kv ...string) map[string]string {
	c.nonce++
	p := map[string]string{
		"Action":           action,
		"Format":           "JSON",
		"Version":          c.version,
		"AccessKeyId":      c.id,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureVersion": "1.0",
		"SignatureNonce":   fmt.Sprintf("nonce-%p-%d", c, c.nonce),
		"Timestamp":        c.clock.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

func (c *testClient) method() string {
	if c.mode == viaGET {
		return http.MethodGet
	}
	return http.MethodPost
}

// signed adds Signature to p.
func (c *testClient) signed(p map[string]string) map[string]string {
	p["Signature"] = testSign(c.method(), p, c.secret)
	return p
}

// call signs and sends one call.
func (c *testClient) call(action string, kv ...string) result {
	c.t.Helper()
	return c.send(c.method(), c.signed(c.params(action, kv...)))
}

var commonNames = map[string]bool{"Action": true, "Format": true, "Version": true, "AccessKeyId": true, "SignatureMethod": true,
	"SignatureVersion": true, "SignatureNonce": true, "Timestamp": true, "Signature": true}

// send puts p on the wire as c.mode says, with the given HTTP method.
func (c *testClient) send(method string, p map[string]string) result {
	c.t.Helper()
	query, form := url.Values{}, url.Values{}
	for k, v := range p {
		switch {
		case c.mode == viaGET, c.mode == viaSplit && commonNames[k]:
			query.Set(k, v)
		default:
			form.Set(k, v)
		}
	}
	u := c.base + "/?" + encodeValues(query)
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(encodeValues(form))
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := result{status: resp.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		c.t.Fatalf("answer is not JSON: %s", raw)
	}
	r.code, _ = r.body["Code"].(string)
	return r
}

// encodeValues encodes with %20 for spaces, as the seed asks of clients.
func encodeValues(v url.Values) string {
	parts := make([]string, 0, len(v))
	for k, vs := range v {
		for _, x := range vs {
			parts = append(parts, rfc3986(k)+"="+rfc3986(x))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

// result is one answer.
type result struct {
	status int
	code   string
	body   map[string]any
	raw    []byte
}

func (r result) str(field string) string {
	s, _ := r.body[field].(string)
	return s
}

// wantOK fails the test unless the call succeeded with a RequestId.
func (r result) wantOK(t testing.TB) result {
	t.Helper()
	if r.status != 200 || r.code != "" || r.str("RequestId") == "" {
		t.Fatalf("want success, got %d %s", r.status, r.raw)
	}
	return r
}

// wantErr fails the test unless the call failed with status and code, in
// the protocol's error shape.
func (r result) wantErr(t testing.TB, status int, code string) result {
	t.Helper()
	if r.status != status || r.code != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.status, r.raw)
	}
	for _, f := range []string{"RequestId", "HostId", "Code", "Message"} {
		if r.str(f) == "" {
			t.Fatalf("error answer lacks %s: %s", f, r.raw)
		}
	}
	return r
}

// startAt is a Wednesday, 10:00 UTC = 18:00 in Shanghai.
var startAt = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// newTestServer starts an emulator on a fake clock for one test.
func newTestServer(t testing.TB, opts Options) (*Server, *testClient, *Clock) {
	t.Helper()
	clock := NewClock(startAt)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, newTestClient(t, s.URL, clock), clock
}

func urls(domain string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s/static/%d.css", domain, i)
	}
	return b.String()
}
