package credentials_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

// credCanary is a fake secret a provider's answer carries.
const credCanary = "canary-cred-77"

// hostLog records what a test server was asked.
type hostLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (h *hostLog) add(r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = append(h.reqs, r.Clone(context.Background()))
}

func (h *hostLog) all() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.reqs...)
}

// sessionJSON is a good credentials answer.
func sessionJSON(id string) string {
	return `{"Code":"Success","AccessKeyId":"` + id + `","AccessKeySecret":"s","SecurityToken":"t","Expiration":"` +
		time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z") + `"}`
}

// A credentials URI that redirects to another host: the other host gets
// no request at all (so neither the token in the URL nor a Referer), and
// its keys are never used.
func TestCredentialsURIRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var other hostLog
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.add(r)
		_, _ = w.Write([]byte(sessionJSON("STS.attacker")))
	}))
	t.Cleanup(second.Close)
	var first hostLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.add(r)
		http.Redirect(w, r, second.URL+"/steal", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCredentialsURI, URI: srv.URL + "/redirect?token=" + credCanary},
		credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := p.Credentials(context.Background())
	var ce *credentials.Error
	if !errors.As(err, &ce) || ce.HTTPStatus != http.StatusFound || cr.AccessKeyID != "" {
		t.Fatalf("redirect: credentials %v, err %v; want a refusal naming HTTP 302", cr, err)
	}
	if strings.Contains(err.Error(), credCanary) {
		t.Fatalf("error leaks the URL's token: %v", err)
	}
	if n := len(other.all()); n != 0 {
		t.Fatalf("the second host got %d requests, first with Referer %q", n, other.all()[0].Referer())
	}
	for _, r := range first.all() {
		if r.Referer() != "" {
			t.Fatalf("request carried Referer %q", r.Referer())
		}
	}
}

// A failing provider's answer never enters the error, whatever its
// encoding; the error names the provider, the status and the request ID,
// and the debug log holds the answer scrubbed.
func TestCredentialsURIErrorCarriesNoBody(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"json":  `{"Message":"rotation failed","SessionToken":"` + credCanary + `","Credentials":{"AccessKeySecret":"` + credCanary + `"}}`,
		"yaml":  "message: rotation failed\naccess-key-secret: " + credCanary,
		"query": "error=x&AccessKeySecret=" + credCanary,
		"html":  "<p>AccessKeySecret&#61;" + credCanary + "</p>",
		"plain": "rotation failed for " + credCanary,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Acs-Request-Id", "REQ-123")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCredentialsURI, URI: srv.URL},
				credentials.ChainOptions{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Credentials(context.Background())
			msg := err.Error()
			if strings.Contains(msg, "canary") || strings.Contains(msg, "rotation failed") {
				t.Fatalf("error carries the answer: %v", err)
			}
			for _, want := range []string{"credentials_uri", "HTTP 500", "REQ-123"} {
				if !strings.Contains(msg, want) {
					t.Fatalf("error %q lacks %q", msg, want)
				}
			}
			if !strings.Contains(logs.String(), "rotation failed") && name != "query" && name != "html" {
				t.Fatalf("debug log lacks the scrubbed answer: %s", logs.String())
			}
			if name != "plain" && strings.Contains(logs.String(), credCanary) {
				t.Fatalf("debug log leaks the canary: %s", logs.String())
			}
		})
	}
}

// An answer larger than the cap is refused without reading it all.
func TestCredentialsURIBodyCapped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 1<<16)
		for range 64 { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeCredentialsURI, URI: srv.URL}, credentials.ChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Credentials(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Fatalf("4 MiB answer: %v", err)
	}
}

// Only https, or http to loopback and link-local addresses, may serve
// credentials.
func TestCheckCredentialsURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://creds.example.com/latest":     true,
		"http://127.0.0.1:8000/credentials":    true,
		"http://localhost:8000/credentials":    true,
		"http://[::1]:8000/credentials":        true,
		"http://169.254.170.2/v2/credentials":  true,
		"http://creds.attacker.example/latest": false,
		"http://10.0.3.7/latest":               false,
		"ftp://127.0.0.1/x":                    false,
		"https://user:pw@creds.example.com/x":  false,
		"not a url":                            false,
	} {
		if err := credentials.CheckURL(raw); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
	probs := credentials.Config{Type: credentials.ModeCredentialsURI, URI: "http://creds.attacker.example/latest"}.Validate("cdn.credentials.", credentials.Credentials{})
	if len(probs) != 1 || probs[0].Field != "uri" || !strings.Contains(probs[0].Message, "https") {
		t.Fatalf("plain http to a remote host: %v", probs)
	}
}

// imds serves the ECS metadata service; tokenOK says whether it hands out
// session tokens.
func imds(t *testing.T, tokenOK bool, log *hostLog) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			if !tokenOK {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			_, _ = w.Write([]byte("imds-session-token"))
		case r.URL.Path == "/latest/meta-data/ram/security-credentials/":
			_, _ = w.Write([]byte("cdn-role"))
		case r.URL.Path == "/latest/meta-data/ram/security-credentials/cdn-role":
			if tokenOK && r.Header.Get("X-aliyun-ecs-metadata-token") != "imds-session-token" {
				http.Error(w, "token", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(sessionJSON("STS.ecs")))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// ecs_ram_role asks with a session token (IMDSv2), and without one only
// when allow_imds_v1 is set.
func TestECSRAMRoleIMDSv2Only(t *testing.T) {
	t.Parallel()
	var v2 hostLog
	p, err := credentials.NewChainProvider(credentials.Config{Type: credentials.ModeECSRAMRole},
		credentials.ChainOptions{IMDSEndpoint: imds(t, true, &v2)})
	if err != nil {
		t.Fatal(err)
	}
	if cr, err := p.Credentials(context.Background()); err != nil || cr.AccessKeyID != "STS.ecs" {
		t.Fatalf("IMDSv2: %v, %v", cr, err)
	}

	var v1 hostLog
	endpoint := imds(t, false, &v1)
	p, _ = credentials.NewChainProvider(credentials.Config{Type: credentials.ModeECSRAMRole}, credentials.ChainOptions{IMDSEndpoint: endpoint})
	if _, err := p.Credentials(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("no token and no allow_imds_v1: %v", err)
	}
	for _, r := range v1.all() {
		if r.Method == http.MethodGet {
			t.Fatalf("asked %s without a session token", r.URL.Path)
		}
	}
	p, _ = credentials.NewChainProvider(credentials.Config{Type: credentials.ModeECSRAMRole, AllowIMDSv1: true},
		credentials.ChainOptions{IMDSEndpoint: endpoint})
	if cr, err := p.Credentials(context.Background()); err != nil || cr.AccessKeyID != "STS.ecs" {
		t.Fatalf("allow_imds_v1: %v, %v", cr, err)
	}
}

// An API error answer: a non-JSON body never enters the error, and a JSON
// message is scrubbed.
func TestAPIErrorCarriesNoBody(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ body, want string }{
		"html page": {"<html>AccessKeySecret&#61;" + credCanary + " proxy error</html>", "HTTP502"},
		"json":      {`{"Code":"InternalError","Message":"failed, SecurityToken: ` + credCanary + `","RequestId":"R-1"}`, "InternalError"},
		"bad code":  {`{"Code":"` + credCanary + ` \u001b[2J","Message":"x","RequestId":"R-1 \n forged"}`, "HTTP502"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := apiclient.New(apiclient.Options{Endpoint: srv.URL, Provider: credentials.StaticProvider{Value: emuPair, Name: "env"},
				Retry: apiclient.RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.DescribeQuota(context.Background(), apiclient.CDN())
			if err == nil || strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "\x1b") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q", err)
			}
			if apiclient.Code(err) != tc.want {
				t.Fatalf("code %q, want %q", apiclient.Code(err), tc.want)
			}
		})
	}
}
