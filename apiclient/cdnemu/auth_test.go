package cdnemu

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The worked example of the Alibaba Cloud CDN API reference (API 2014-11-11), "Signature mechanism", signed by the test's own signer
// and accepted by the emulator at the example's time.
func TestSeedVector(t *testing.T) {
	p := map[string]string{
		"SignatureVersion": "1.0", "Format": "JSON", "Timestamp": "2015-08-06T02:19:46Z", "AccessKeyId": "testid",
		"SignatureMethod": "HMAC-SHA1", "Version": "2014-11-11", "Action": "DescribeCdnService",
		"SignatureNonce": "9b7a44b0-3be1-11e5-8c73-08002700c460",
	}
	if got := testSign("GET", p, "testsecret"); got != "KkkQOf0ymKf4yVZLggy6kYiwgFs=" {
		t.Fatalf("test signer: %s", got)
	}
	s, c, clock := newTestServer(t, Options{})
	clock.Set(time.Date(2015, 8, 6, 2, 19, 46, 0, time.UTC))
	p["Signature"] = "KkkQOf0ymKf4yVZLggy6kYiwgFs="
	c.send(http.MethodGet, p).wantOK(t)
	if got := s.Nonces(); len(got) != 1 || got[0] != "9b7a44b0-3be1-11e5-8c73-08002700c460" {
		t.Fatalf("Nonces = %v", got)
	}
}

func TestTransportModes(t *testing.T) {
	paths := "example.com/a b.css\r\nexample.com/x*y~z.js\nhttps://example.com/中文.png\n\nhttp://EXAMPLE.com:8080/q?a=1&b=%2F"
	for _, m := range []mode{viaGET, viaForm, viaSplit} {
		t.Run(m.String(), func(t *testing.T) {
			s, c, _ := newTestServer(t, Options{})
			c.mode = m
			c.call("DescribeRefreshQuota").wantOK(t)
			r := c.call("RefreshObjectCaches", "ObjectPath", paths, "ObjectType", "File").wantOK(t)
			// Four URLs of one domain in one call: one merged task.
			if ids := strings.Split(r.str("RefreshTaskId"), ","); len(ids) != 1 {
				t.Fatalf("RefreshTaskId = %q, want 1 merged ID", r.str("RefreshTaskId"))
			}
			want := []string{"example.com/a b.css", "example.com/x*y~z.js", "https://example.com/中文.png", "http://EXAMPLE.com:8080/q?a=1&b=%2F"}
			if got := s.Paths("RefreshObjectCaches"); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("Paths = %q", got)
			}
			c.version = "2014-11-11"
			c.call("DescribeCdnService").wantOK(t)
		})
	}
}

// One changed byte anywhere in a signed call is refused.
func TestTamperedSignature(t *testing.T) {
	tamper := []struct {
		name string
		do   func(p map[string]string, c *testClient) string // returns the method to send with
	}{
		{"path byte", func(p map[string]string, c *testClient) string {
			p["ObjectPath"] = strings.Replace(p["ObjectPath"], "a.css", "b.css", 1)
			return c.method()
		}},
		{"newline to crlf", func(p map[string]string, c *testClient) string {
			p["ObjectPath"] = strings.Replace(p["ObjectPath"], "\n", "\r\n", 1)
			return c.method()
		}},
		{"timestamp second", func(p map[string]string, c *testClient) string {
			p["Timestamp"] = strings.Replace(p["Timestamp"], ":00Z", ":01Z", 1)
			return c.method()
		}},
		{"nonce", func(p map[string]string, c *testClient) string { p["SignatureNonce"] += "x"; return c.method() }},
		{"signature byte", func(p map[string]string, c *testClient) string {
			sig := []byte(p["Signature"])
			sig[3] ^= 1
			p["Signature"] = string(sig)
			return c.method()
		}},
		{"added parameter", func(p map[string]string, c *testClient) string { p["Force"] = "true"; return c.method() }},
		{"other method", func(p map[string]string, c *testClient) string {
			if c.mode == viaGET {
				c.mode = viaForm
				return http.MethodPost
			}
			c.mode = viaGET
			return http.MethodGet
		}},
		{"other secret", func(p map[string]string, c *testClient) string {
			p["Signature"] = testSign(c.method(), p, "testsecreT")
			return c.method()
		}},
	}
	for _, m := range []mode{viaGET, viaForm, viaSplit} {
		for _, tc := range tamper {
			t.Run(m.String()+"/"+tc.name, func(t *testing.T) {
				s, c, _ := newTestServer(t, Options{})
				c.mode = m
				p := c.signed(c.params("RefreshObjectCaches", "ObjectPath", "example.com/a.css\nexample.com/c.css", "ObjectType", "Directory"))
				method := tc.do(p, c)
				c.send(method, p).wantErr(t, 400, "SignatureDoesNotMatch")
				if n := s.Accepted("RefreshObjectCaches"); n != 0 {
					t.Fatalf("accepted %d", n)
				}
			})
		}
	}
}

func TestNonceReuse(t *testing.T) {
	_, c, clock := newTestServer(t, Options{})
	p := c.signed(c.params("DescribeRefreshQuota"))
	// A forged call with the nonce does not burn it.
	forged := map[string]string{}
	for k, v := range p {
		forged[k] = v
	}
	forged["Signature"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
	c.send(http.MethodGet, forged).wantErr(t, 400, "SignatureDoesNotMatch")
	c.send(http.MethodGet, p).wantOK(t)
	c.send(http.MethodGet, p).wantErr(t, 400, "SignatureNonceUsed")
	// Re-signed with a new timestamp, the same nonce is still refused.
	clock.Advance(10 * time.Minute)
	p2 := c.params("DescribeRefreshQuota")
	p2["SignatureNonce"] = p["SignatureNonce"]
	c.send(http.MethodGet, c.signed(p2)).wantErr(t, 400, "SignatureNonceUsed")
	// Once any replay's timestamp would be expired, the nonce is forgotten.
	clock.Advance(31 * time.Minute)
	p3 := c.params("DescribeRefreshQuota")
	p3["SignatureNonce"] = p["SignatureNonce"]
	c.send(http.MethodGet, c.signed(p3)).wantOK(t)
}

func TestNonceStoreBounded(t *testing.T) {
	s := newNonceStore(3)
	now := startAt
	for _, n := range []string{"a", "b", "c", "d"} {
		if !s.use(n, now) {
			t.Fatalf("%s refused", n)
		}
	}
	if len(s.seen) > 3 {
		t.Fatalf("holds %d nonces, bound 3", len(s.seen))
	}
	if s.use("d", now) {
		t.Fatal("d reused")
	}
}

func TestTimestamp(t *testing.T) {
	cases := []struct {
		name string
		ts   func(now time.Time) string
		code string
	}{
		{"14m ahead", func(n time.Time) string { return n.Add(14 * time.Minute).Format("2006-01-02T15:04:05Z") }, ""},
		{"14m behind", func(n time.Time) string { return n.Add(-14 * time.Minute).Format("2006-01-02T15:04:05Z") }, ""},
		{"16m ahead", func(n time.Time) string { return n.Add(16 * time.Minute).Format("2006-01-02T15:04:05Z") }, "InvalidTimeStamp.Expired"},
		{"16m behind", func(n time.Time) string { return n.Add(-16 * time.Minute).Format("2006-01-02T15:04:05Z") }, "InvalidTimeStamp.Expired"},
		{"local format", func(n time.Time) string { return n.Format("2006-01-02 15:04:05") }, "InvalidTimeStamp.Format"},
		{"offset", func(n time.Time) string { return n.Format("2006-01-02T15:04:05+08:00") }, "InvalidTimeStamp.Format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, c, clock := newTestServer(t, Options{})
			p := c.params("DescribeRefreshQuota")
			p["Timestamp"] = tc.ts(clock.Now())
			r := c.send(http.MethodGet, c.signed(p))
			if tc.code == "" {
				r.wantOK(t)
			} else {
				r.wantErr(t, 400, tc.code)
			}
		})
	}
}

func TestCallRefused(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(c *testClient, p map[string]string)
		status int
		code   string
	}{
		{"unknown key", func(c *testClient, p map[string]string) { p["AccessKeyId"] = "nobody" }, 404, "InvalidAccessKeyId.NotFound"},
		{"unknown action", func(c *testClient, p map[string]string) { p["Action"] = "PurgeEverything" }, 400, "UnsupportedOperation"},
		{"unknown version", func(c *testClient, p map[string]string) { p["Version"] = "2020-01-01" }, 400, "InvalidVersion"},
		{"dcdn version on cdn", func(c *testClient, p map[string]string) { p["Version"] = "2018-01-15" }, 400, "InvalidVersion"},
		{"signature method", func(c *testClient, p map[string]string) { p["SignatureMethod"] = "HMAC-SHA256" }, 400, "InvalidParameter"},
	}
	for _, name := range []string{"Action", "Version", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"} {
		cases = append(cases, struct {
			name   string
			edit   func(c *testClient, p map[string]string)
			status int
			code   string
		}{"missing " + name, func(c *testClient, p map[string]string) { delete(p, name) }, 400, "MissingParameter"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := newTestServer(t, Options{})
			p := c.params("DescribeRefreshQuota")
			tc.edit(c, p)
			r := c.send(http.MethodGet, c.signed(p)).wantErr(t, tc.status, tc.code)
			if tc.code == "MissingParameter" && !strings.Contains(r.str("Message"), strings.TrimPrefix(tc.name, "missing ")) {
				t.Fatalf("message does not name the parameter: %s", r.raw)
			}
			if s.Accepted("DescribeRefreshQuota") != 0 {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("missing signature", func(t *testing.T) {
		_, c, _ := newTestServer(t, Options{})
		c.send(http.MethodGet, c.params("DescribeRefreshQuota")).wantErr(t, 400, "MissingParameter")
	})
	t.Run("PUT", func(t *testing.T) {
		_, c, _ := newTestServer(t, Options{})
		c.mode = viaGET
		c.send(http.MethodPut, c.signed(c.params("DescribeRefreshQuota"))).wantErr(t, 400, "UnsupportedHTTPMethod")
	})
	t.Run("extra key", func(t *testing.T) {
		_, c, _ := newTestServer(t, Options{ExtraKeys: map[string]string{"k2": "s2"}})
		c.id, c.secret = "k2", "s2"
		c.call("DescribeRefreshQuota").wantOK(t)
	})
}

func TestThrottling(t *testing.T) {
	s, c, clock := newTestServer(t, Options{RateLimits: map[string]float64{"DescribeRefreshTasks": 0}})
	for i := range 20 {
		if r := c.call("DescribeRefreshQuota"); r.status != 200 {
			t.Fatalf("call %d: %s", i, r.raw)
		}
	}
	c.call("DescribeRefreshQuota").wantErr(t, 400, "Throttling.User")
	clock.Advance(999 * time.Millisecond)
	c.call("DescribeRefreshQuota").wantErr(t, 400, "Throttling.User")
	clock.Advance(time.Millisecond)
	c.call("DescribeRefreshQuota").wantOK(t)
	if got := s.MaxPerSecond("DescribeRefreshQuota"); got != 22 {
		t.Fatalf("MaxPerSecond = %d, want 22", got)
	}
	if got := s.Refused("DescribeRefreshQuota", "Throttling.User"); got != 2 {
		t.Fatalf("Refused = %d", got)
	}
	// The override lifted DescribeRefreshTasks' limit of 10.
	for range 30 {
		c.call("DescribeRefreshTasks").wantOK(t)
	}

	_, c2, _ := newTestServer(t, Options{NoRateLimit: true})
	for range 60 {
		c2.call("OpenCdnService", "InternetChargeType", "PayByTraffic").wantErr(t, 400, "CdnService.HasOpened")
	}
}
