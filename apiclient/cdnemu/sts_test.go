package cdnemu

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

func stsParams(action string, kv ...string) url.Values {
	p := url.Values{"Action": {action}, "Version": {STSVersion}}
	for i := 0; i+1 < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	return p
}

func credsOf(t *testing.T, r result) credentials.Credentials {
	t.Helper()
	c, _ := r.body["Credentials"].(map[string]any)
	str := func(k string) string { s, _ := c[k].(string); return s }
	cr := credentials.Credentials{AccessKeyID: str("AccessKeyId"), AccessKeySecret: str("AccessKeySecret"), SecurityToken: str("SecurityToken")}
	if cr.Validate() != nil || cr.SecurityToken == "" || str("Expiration") == "" {
		t.Fatalf("no credentials in %s", r.raw)
	}
	return cr
}

// AssumeRole mints a key that works with its token until it expires, and
// GetCallerIdentity names the same account for it as for the long-lived
// key.
func TestAssumeRoleTokenLifecycle(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestServer(t, Options{AccountID: "5551234"})
	id := v3Send(t, s, clock, defaultCreds, http.MethodPost, stsParams("GetCallerIdentity"), nil).wantOK(t)
	if id.str("AccountId") != "5551234" || id.str("IdentityType") != "Account" {
		t.Fatalf("identity %s", id.raw)
	}
	r := v3Send(t, s, clock, defaultCreds, http.MethodPost, stsParams("AssumeRole",
		"RoleArn", "acs:ram::5551234:role/cdnpurge", "RoleSessionName", "test", "DurationSeconds", "900"), nil).wantOK(t)
	sts := credsOf(t, r)
	id = v3Send(t, s, clock, sts, http.MethodPost, stsParams("GetCallerIdentity"), nil).wantOK(t)
	if id.str("AccountId") != "5551234" || id.str("IdentityType") != "AssumedRoleUser" {
		t.Fatalf("identity of the STS key %s", id.raw)
	}
	v3Send(t, s, clock, sts, http.MethodPost, refreshParams(), nil).wantOK(t)

	noToken := sts
	noToken.SecurityToken = ""
	v3Send(t, s, clock, noToken, http.MethodPost, refreshParams(), nil).wantErr(t, 400, "InvalidSecurityToken.MismatchWithAccessKey")
	wrong := sts
	wrong.SecurityToken = "CAISforged"
	v3Send(t, s, clock, wrong, http.MethodPost, refreshParams(), nil).wantErr(t, 400, "InvalidSecurityToken.MismatchWithAccessKey")

	clock.Advance(900 * time.Second)
	v3Send(t, s, clock, sts, http.MethodPost, refreshParams(), nil).wantErr(t, 400, "InvalidSecurityToken.Expired")
	// v1 is checked the same way.
	c := newTestClient(t, s.URL, clock)
	c.id, c.secret = sts.AccessKeyID, sts.AccessKeySecret
	p := c.params("DescribeRefreshQuota", "SecurityToken", sts.SecurityToken)
	c.send(c.method(), c.signed(p)).wantErr(t, 400, "InvalidSecurityToken.Expired")
	if s.STSIssued() != 1 {
		t.Fatalf("STSIssued = %d", s.STSIssued())
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestServer(t, Options{OIDCToken: "good-token", STSTokenTTL: time.Minute})
	for _, c := range []struct {
		kv   []string
		code string
	}{
		{[]string{"RoleSessionName", "x"}, "MissingParameter"},
		{[]string{"RoleArn", "arn:aws:iam::1:role/x", "RoleSessionName", "x"}, "InvalidParameter"},
		{[]string{"RoleArn", "acs:ram::1:role/x"}, "MissingParameter"},
		{[]string{"RoleArn", "acs:ram::1:role/x", "RoleSessionName", "x", "DurationSeconds", "60"}, "InvalidParameter"},
	} {
		v3Send(t, s, clock, defaultCreds, http.MethodPost, stsParams("AssumeRole", c.kv...), nil).wantErr(t, 400, c.code)
	}
	// AssumeRoleWithOIDC needs no AccessKey, only a good token.
	oidc := func(token string) result {
		c := newTestClient(t, s.URL, clock)
		c.mode = viaForm
		return c.send(http.MethodPost, map[string]string{"Action": "AssumeRoleWithOIDC", "Version": STSVersion, "Format": "JSON",
			"RoleArn": "acs:ram::1:role/x", "OIDCProviderArn": "acs:ram::1:oidc-provider/ack-rrsa", "OIDCToken": token, "RoleSessionName": "pod"})
	}
	oidc("bad-token").wantErr(t, 400, "AuthenticationFail.OIDCToken.Invalid")
	r := oidc("good-token").wantOK(t)
	cr := credsOf(t, r)
	// STSTokenTTL caps the session below the asked-for hour.
	c, _ := r.body["Credentials"].(map[string]any)
	if exp, _ := c["Expiration"].(string); exp != clock.Now().Add(time.Minute).UTC().Format("2006-01-02T15:04:05Z") {
		t.Fatalf("Expiration %s, want now+1m", exp)
	}
	v3Send(t, s, clock, cr, http.MethodPost, refreshParams(), nil).wantOK(t)
	oidc("good-token").wantOK(t) // no nonce to burn
}

// The emulator serves TLS with a test CA's certificate.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCert()
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ServeTLS(e, "127.0.0.1:0", cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = ca.Pool
	cl, err := apiclient.New(apiclient.Options{Endpoint: s.URL, Credentials: defaultCreds, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DescribeQuota(t.Context(), apiclient.CDN()); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	// Without the CA, the certificate is not trusted.
	plain, _ := apiclient.New(apiclient.Options{Endpoint: s.URL, Credentials: defaultCreds, Retry: apiclient.RetryPolicy{MaxAttempts: 1}})
	if _, err := plain.DescribeQuota(t.Context(), apiclient.CDN()); err == nil {
		t.Fatal("an unknown CA was trusted")
	}
}
