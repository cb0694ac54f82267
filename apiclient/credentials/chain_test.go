package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/apiclient/signer"
)

// testCA is trusted through SSL_CERT_FILE, set in TestMain before any TLS
// handshake: Go reads the system roots once per process, and
// credentials-go's role and OIDC providers speak https to STS with the
// default roots.
var testCA *cdnemu.TestCA

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apiclient-ca")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCA, err = cdnemu.NewTestCA()
	if err == nil {
		err = testCA.WriteCertFile(filepath.Join(dir, "ca.pem"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "ca.pem"))
	// The default chain must never reach for a real metadata service here.
	os.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tlsEmulator serves an emulator over TLS with testCA's certificate.
func tlsEmulator(t *testing.T, o cdnemu.Options) *cdnemu.Server {
	t.Helper()
	cert, err := testCA.ServerCert()
	if err != nil {
		t.Fatal(err)
	}
	e, err := cdnemu.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cdnemu.ServeTLS(e, "127.0.0.1:0", cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func clientWith(t *testing.T, emu *cdnemu.Server, p credentials.Provider) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(apiclient.Options{Endpoint: emu.URL, STSEndpoint: emu.URL, Provider: p,
		Retry: apiclient.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func refresh(t *testing.T, c *apiclient.Client, path string) {
	t.Helper()
	if _, err := c.Refresh(context.Background(), apiclient.CDN(), apiclient.RefreshRequest{Paths: []string{path}}); err != nil {
		t.Fatalf("refresh %s: %v", path, err)
	}
}

// keysUsed lists the AccessKeyIds the emulator saw, in order.
func keysUsed(emu *cdnemu.Server) []string {
	var out []string
	for _, r := range emu.Requests() {
		out = append(out, r.Params.Get("AccessKeyId"))
	}
	return out
}

var emuPair = credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret}

// The default chain finds the pair in the environment.
func TestChainEnvironment(t *testing.T) {
	emu, err := cdnemu.NewServer(cdnemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	t.Setenv(credentials.EnvAccessKeyID, cdnemu.DefaultAccessKeyID)
	t.Setenv(credentials.EnvAccessKeySecret, cdnemu.DefaultAccessKeySecret)
	p, err := credentials.NewChainProvider(credentials.Config{}, credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, clientWith(t, emu, p), "example.com/env.css")
}

// The default chain reads the credentials ini file.
func TestChainIniFile(t *testing.T) {
	emu, err := cdnemu.NewServer(cdnemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	ini := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(ini, []byte("[default]\ntype = access_key\naccess_key_id = testid\naccess_key_secret = testsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", ini)
	t.Setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
	t.Setenv("HOME", t.TempDir())
	p, err := credentials.NewChainProvider(credentials.Config{}, credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, clientWith(t, emu, p), "example.com/ini.css")
}

func writeCLIConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cli_profile reads a named profile of the aliyun CLI's config.json; a
// broken file is reported without repeating its secrets.
func TestChainCLIProfile(t *testing.T) {
	t.Parallel()
	emu, err := cdnemu.NewServer(cdnemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	cfg := writeCLIConfig(t, `{"current":"other","profiles":[
		{"name":"other","mode":"AK","access_key_id":"nope","access_key_secret":"nope"},
		{"name":"cdn","mode":"AK","access_key_id":"testid","access_key_secret":"testsecret"}]}`)
	p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCLIProfile, Profile: "cdn", ProfileFile: cfg}, credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, clientWith(t, emu, p), "example.com/cli.css")

	broken := writeCLIConfig(t, `{"profiles":[{"name":"cdn","mode":"AK","access_key_id":"id","access_key_secret":"s3cr3t-value"},]}`)
	p, err = credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCLIProfile, Profile: "cdn", ProfileFile: broken}, credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Credentials(context.Background())
	var ce *credentials.Error
	if !errors.As(err, &ce) || ce.Provider != "cli_profile" || strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("broken profile: %v", err)
	}
	if apiclient.Classify(fmt.Errorf("wrapped: %w", err)) != apiclient.ClassCredentials {
		t.Fatalf("class %v", apiclient.Classify(err))
	}
}

// Keys served by a credentials URI rotate under a running client, and every
// call keeps succeeding with the key of the moment.
func TestChainCredentialsURIRotation(t *testing.T) {
	t.Parallel()
	emu, err := cdnemu.NewServer(cdnemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	rot := &cdnemu.RotatingCredentials{Emulator: emu.Emulator, Every: 3}
	srv := httptest.NewServer(rot)
	t.Cleanup(srv.Close)
	p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCredentialsURI, URI: srv.URL + "/creds?token=abc"}, credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := clientWith(t, emu, p)
	for i := range 15 {
		refresh(t, c, fmt.Sprintf("example.com/r%d.css", i))
	}
	seen := map[string]bool{}
	for _, k := range keysUsed(emu) {
		seen[k] = true
	}
	if len(seen) < 5 || rot.Minted() < 5 {
		t.Fatalf("%d keys used over 15 calls with rotation every 3 fetches: %v", len(seen), keysUsed(emu))
	}

	// A failing URI is named, and what it answered is scrubbed.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(`{"AccessKeySecret":"leaked-secret","SecurityToken":"leaked-token"}`))
	}))
	t.Cleanup(bad.Close)
	p, _ = credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCredentialsURI, URI: bad.URL + "/?sig=querysecret"}, credentials.ChainOptions{})
	_, err = clientWith(t, emu, p).DescribeQuota(context.Background(), apiclient.CDN())
	if err == nil || !strings.Contains(err.Error(), "credential_uri") && !strings.Contains(err.Error(), "credentials_uri") {
		t.Fatalf("error does not name the provider: %v", err)
	}
	for _, s := range []string{"leaked-secret", "leaked-token", "querysecret"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks %s: %v", s, err)
		}
	}
}

// ram_role_arn assumes a role at the emulator's STS (over TLS) with the
// long-lived pair and signs with the session key; a session shorter than
// credentials-go's refresh margin is renewed before every call.
func TestChainAssumeRole(t *testing.T) {
	t.Parallel()
	emu := tlsEmulator(t, cdnemu.Options{STSTokenTTL: time.Minute})
	p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeRAMRoleARN,
		RoleARN: "acs:ram::1234567890123456:role/cdnpurge", RoleSessionName: "test"},
		credentials.ChainOptions{Static: emuPair, StaticSource: "env", STSEndpoint: emu.URL})
	if err != nil {
		t.Fatal(err)
	}
	c := clientWith(t, emu, p)
	refresh(t, c, "example.com/role1.css")
	refresh(t, c, "example.com/role2.css")
	id, err := c.GetCallerIdentity(context.Background())
	if err != nil || id.AccountID != cdnemu.DefaultAccountID || id.IdentityType != "AssumedRoleUser" {
		t.Fatalf("identity %+v, %v", id, err)
	}
	if emu.STSIssued() < 3 {
		t.Fatalf("%d sessions for 3 calls, want one each", emu.STSIssued())
	}
	for _, r := range emu.Requests() {
		if r.Action == "RefreshObjectCaches" && !strings.HasPrefix(r.Params.Get("AccessKeyId"), "STS.") {
			t.Fatalf("refresh signed with %s, not a session key", r.Params.Get("AccessKeyId"))
		}
	}

	// An http STS endpoint is refused up front: credentials-go would
	// send https to it anyway.
	if _, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeRAMRoleARN, RoleARN: "acs:ram::1:role/x"},
		credentials.ChainOptions{Static: emuPair, STSEndpoint: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("http STS endpoint accepted")
	}
}

// oidc_role_arn (ACK RRSA) exchanges the token file for a session at STS.
func TestChainOIDC(t *testing.T) {
	t.Parallel()
	emu := tlsEmulator(t, cdnemu.Options{OIDCToken: "eyJ.pod-token.sig"})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("eyJ.pod-token.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := credentials.Config{Type: credentials.ModeOIDCRoleARN, RoleARN: "acs:ram::1234567890123456:role/cdnpurge",
		OIDCProviderARN: "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1", OIDCTokenFile: tokenFile}
	p, err := credentials.NewChainProvider(cfg, credentials.ChainOptions{STSEndpoint: emu.URL})
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, clientWith(t, emu, p), "example.com/oidc.css")

	// A token STS refuses: the error names the provider, not the token.
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("eyJ.stolen.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.OIDCTokenFile = bad
	p, _ = credentials.NewChainProvider(cfg, credentials.ChainOptions{STSEndpoint: emu.URL})
	_, err = p.Credentials(context.Background())
	if err == nil || !strings.Contains(err.Error(), "oidc_role_arn") || strings.Contains(err.Error(), "eyJ.stolen.sig") {
		t.Fatalf("bad token: %v", err)
	}
}

// An expired STS token is refused once, classified as a credentials
// problem, and not retried.
func TestExpiredTokenRefused(t *testing.T) {
	t.Parallel()
	emu, err := cdnemu.NewServer(cdnemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	emu.AddTemporaryKey("STS.old", "old-secret", "old-token", time.Now().Add(-time.Second))
	for _, scheme := range []string{signer.V1, signer.V3} {
		attempts := 0
		c, err := apiclient.New(apiclient.Options{Endpoint: emu.URL, Signature: scheme,
			Provider:  credentials.StaticProvider{Value: credentials.Credentials{AccessKeyID: "STS.old", AccessKeySecret: "old-secret", SecurityToken: "old-token"}, Name: "env"},
			OnAttempt: func(apiclient.Attempt) { attempts++ },
			Retry:     apiclient.RetryPolicy{MaxAttempts: 4, Base: time.Millisecond, Max: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.DescribeQuota(context.Background(), apiclient.CDN())
		if apiclient.Code(err) != "InvalidSecurityToken.Expired" || apiclient.Classify(err) != apiclient.ClassCredentials || attempts != 1 {
			t.Fatalf("%s: err %v, class %v, %d attempts", scheme, err, apiclient.Classify(err), attempts)
		}
		if strings.Contains(err.Error(), "old-token") || strings.Contains(err.Error(), "old-secret") {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}

func TestRegionEndpoint(t *testing.T) {
	t.Parallel()
	for region, want := range map[string]string{
		"": apiclient.CDN().Endpoint, "cn-hangzhou": apiclient.CDN().Endpoint, "cn-beijing": apiclient.CDN().Endpoint,
		"ap-southeast-1": apiclient.InternationalEndpoint, "eu-central-1": apiclient.InternationalEndpoint, "us-west-1": apiclient.InternationalEndpoint,
	} {
		if got := apiclient.RegionEndpoint(region); got != want {
			t.Errorf("RegionEndpoint(%q) = %s, want %s", region, got, want)
		}
	}
}
