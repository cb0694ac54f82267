package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/redact"
)

// Credentials are fetched over HTTP from a credentials URI
// (ALIBABA_CLOUD_CREDENTIALS_URI, cdn.credentials.uri) and from the ECS
// instance metadata service ("Obtain the metadata of an instance" and
// "Instance RAM roles" in the ECS documentation). These fetches carry
// keys, so they are done here rather than by credentials-go, whose HTTP
// client follows redirects to any host and sends the URL, token and all,
// as Referer:
//
//   - no redirect is followed: a 3xx answer is an error, so no second host
//     ever gets a request;
//   - no Referer, no proxy for loopback and link-local addresses;
//   - an answer is read up to credBodyLimit, a larger one is refused;
//   - only https, or http to a loopback or link-local address (a sidecar,
//     the metadata service), is accepted (CheckURL);
//   - the metadata service is asked with a session token (IMDSv2) only,
//     unless cdn.credentials.allow_imds_v1 says otherwise;
//   - an answer's body never enters an error: the error carries the
//     provider, the HTTP status, the request ID and a fixed reason, and
//     the body is logged at debug level after redact.Scrub.
const (
	// credBodyLimit bounds a credentials answer.
	credBodyLimit = 64 << 10
	// DefaultIMDSEndpoint is the ECS instance metadata service.
	DefaultIMDSEndpoint = "http://100.100.100.200"
	// imdsTokenTTL is the lifetime asked for a metadata session token.
	imdsTokenTTL = 21600
	// refreshMargin renews a session this long before it expires, as
	// credentials-go does.
	refreshMargin = 3 * time.Minute
)

// CheckURL reports why raw may not serve credentials: it must be
// https, or http to a loopback or link-local address; never with user info.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("not an http(s) URL; want https://..., or http:// to a loopback or link-local address such as http://127.0.0.1:8000/credentials")
	}
	if u.User != nil {
		return errors.New("user info in the URL is not supported; serve the credentials without it")
	}
	if u.Scheme == "http" && !localHost(u.Hostname()) {
		return fmt.Errorf("plain http to %s would send keys across the network unencrypted; use https, or http to a loopback or link-local address", redact.Escape(u.Hostname()))
	}
	return nil
}

// localHost reports a loopback or link-local host (localhost, 127.0.0.0/8,
// ::1, 169.254.0.0/16, fe80::/10).
func localHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast())
}

// newCredentialsHTTP returns the client of credential fetches: no
// redirects, bounded times, the environment's proxy for remote https only.
func newCredentialsHTTP(total, dial time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if localHost(r.URL.Hostname()) || r.URL.Host == strings.TrimPrefix(DefaultIMDSEndpoint, "http://") {
				return nil, nil
			}
			return http.ProxyFromEnvironment(r)
		},
		DialContext:           (&net.Dialer{Timeout: dial}).DialContext,
		TLSHandshakeTimeout:   total,
		ResponseHeaderTimeout: total,
		MaxIdleConns:          2,
		IdleConnTimeout:       time.Minute,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: total,
		// A redirect is answered as it came: credFetch refuses it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// credFetch does one credentials request and returns the body of a 200
// answer. Errors are *Error without any of the answer's text.
func credFetch(ctx context.Context, hc *http.Client, log *slog.Logger, provider string, req *http.Request) ([]byte, error) {
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", "cdnpurge")
	req.Header.Del("Referer")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The cause only: the URL may carry a token in its query.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		log.Debug("credentials fetch failed", slog.String("provider", provider), slog.String("error", redact.Text(err.Error())))
		return nil, &Error{Provider: provider, Reason: "no answer"}
	}
	defer resp.Body.Close()
	rid := answerRequestID(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, credBodyLimit+1))
	switch {
	case err != nil:
		return nil, &Error{Provider: provider, HTTPStatus: resp.StatusCode, RequestID: rid, Reason: "answer cut short"}
	case len(body) > credBodyLimit:
		return nil, &Error{Provider: provider, HTTPStatus: resp.StatusCode, RequestID: rid,
			Reason: fmt.Sprintf("answer larger than %d KiB, refused", credBodyLimit>>10)}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, &Error{Provider: provider, HTTPStatus: resp.StatusCode, RequestID: rid, Reason: "answered with a redirect, which is never followed"}
	case resp.StatusCode != http.StatusOK:
		log.Debug("credentials provider refused", slog.String("provider", provider), slog.Int("status", resp.StatusCode),
			slog.String("request_id", rid), slog.String("body", redact.Text(string(body))))
		return nil, &Error{Provider: provider, HTTPStatus: resp.StatusCode, RequestID: rid, Reason: "refused the request"}
	}
	return body, nil
}

// answerRequestID is the request ID an answer names in a header, if it looks
// like one.
func answerRequestID(resp *http.Response) string {
	for _, h := range []string{"X-Acs-Request-Id", "X-Request-Id", "X-Amz-Request-Id"} {
		if v := resp.Header.Get(h); v != "" && len(v) <= 64 && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
			return v
		}
	}
	return ""
}

// sessionAnswer is a credentials URI's or the metadata service's answer.
type sessionAnswer struct {
	Code            string `json:"Code"`
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

// session decodes a session answer; errors name no part of it.
func session(provider string, body []byte) (Credentials, time.Time, error) {
	var a sessionAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return Credentials{}, time.Time{}, &Error{Provider: provider, HTTPStatus: http.StatusOK, Reason: "answer is not JSON"}
	}
	if a.Code != "" && a.Code != "Success" {
		return Credentials{}, time.Time{}, &Error{Provider: provider, HTTPStatus: http.StatusOK, Reason: "answer's Code is not Success"}
	}
	if a.AccessKeyID == "" || a.AccessKeySecret == "" || a.SecurityToken == "" {
		return Credentials{}, time.Time{}, &Error{Provider: provider, HTTPStatus: http.StatusOK,
			Reason: "answer lacks AccessKeyId, AccessKeySecret or SecurityToken"}
	}
	exp, err := time.Parse("2006-01-02T15:04:05Z", a.Expiration)
	if err != nil {
		return Credentials{}, time.Time{}, &Error{Provider: provider, HTTPStatus: http.StatusOK,
			Reason: "answer's Expiration is not a UTC time like 2006-01-02T15:04:05Z"}
	}
	return Credentials{AccessKeyID: a.AccessKeyID, AccessKeySecret: a.AccessKeySecret, SecurityToken: a.SecurityToken}, exp, nil
}

// sessionCache keeps a session until refreshMargin before it expires.
type sessionCache struct {
	mu  sync.Mutex
	cur Credentials
	exp time.Time
}

func (c *sessionCache) get(ctx context.Context, fetch func(context.Context) (Credentials, time.Time, error)) (Credentials, error) {
	if err := ctx.Err(); err != nil {
		return Credentials{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.AccessKeyID != "" && time.Until(c.exp) > refreshMargin {
		return c.cur, nil
	}
	cr, exp, err := fetch(ctx)
	if err != nil {
		return Credentials{}, err
	}
	c.cur, c.exp = cr, exp
	return cr, nil
}

// uriProvider asks a credentials URI (cdn.credentials.uri or
// ALIBABA_CLOUD_CREDENTIALS_URI) with GET and reads the session it answers.
type uriProvider struct {
	name  string
	url   string
	http  *http.Client
	log   *slog.Logger
	cache sessionCache
}

// Credentials returns the cached session or fetches a new one.
func (p *uriProvider) Credentials(ctx context.Context) (Credentials, error) {
	return p.cache.get(ctx, func(ctx context.Context) (Credentials, time.Time, error) {
		req, err := http.NewRequest(http.MethodGet, p.url, nil)
		if err != nil {
			return Credentials{}, time.Time{}, &Error{Provider: p.name, Reason: "the URL cannot be requested"}
		}
		body, err := credFetch(ctx, p.http, p.log, p.name, req)
		if err != nil {
			return Credentials{}, time.Time{}, err
		}
		return session(p.name, body)
	})
}

// imdsProvider reads an ECS instance RAM role's session from the metadata
// service: PUT /latest/api/token for a session token, then GET
// /latest/meta-data/ram/security-credentials/<role> with it (IMDSv2).
// Without a token it asks again without one only when allowV1 is set.
type imdsProvider struct {
	name     string
	endpoint string
	roleName string
	allowV1  bool
	http     *http.Client
	log      *slog.Logger
	cache    sessionCache
}

// Credentials returns the cached session or fetches a new one.
func (p *imdsProvider) Credentials(ctx context.Context) (Credentials, error) {
	return p.cache.get(ctx, p.fetch)
}

func (p *imdsProvider) fetch(ctx context.Context) (Credentials, time.Time, error) {
	token, err := p.token(ctx)
	if err != nil {
		if !p.allowV1 || ctx.Err() != nil {
			return Credentials{}, time.Time{}, err
		}
		p.log.Debug("metadata token refused; asking without one (allow_imds_v1)", slog.String("error", redact.Error(err)))
	}
	role := p.roleName
	if role == "" {
		body, err := p.get(ctx, "/latest/meta-data/ram/security-credentials/", token)
		if err != nil {
			return Credentials{}, time.Time{}, err
		}
		role = strings.TrimSpace(string(body))
		if role == "" || strings.ContainsAny(role, "/?#\n") {
			return Credentials{}, time.Time{}, &Error{Provider: p.name, HTTPStatus: http.StatusOK, Reason: "the instance names no single RAM role; set role_name"}
		}
	}
	body, err := p.get(ctx, "/latest/meta-data/ram/security-credentials/"+url.PathEscape(role), token)
	if err != nil {
		return Credentials{}, time.Time{}, err
	}
	return session(p.name, body)
}

func (p *imdsProvider) token(ctx context.Context) (string, error) {
	req, err := http.NewRequest(http.MethodPut, p.endpoint+"/latest/api/token", nil)
	if err != nil {
		return "", &Error{Provider: p.name, Reason: "the metadata endpoint cannot be requested"}
	}
	req.Header.Set("X-aliyun-ecs-metadata-token-ttl-seconds", strconv.Itoa(imdsTokenTTL))
	body, err := credFetch(ctx, p.http, p.log, p.name, req)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(body)), nil
}

func (p *imdsProvider) get(ctx context.Context, path, token string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, p.endpoint+path, nil)
	if err != nil {
		return nil, &Error{Provider: p.name, Reason: "the metadata endpoint cannot be requested"}
	}
	if token != "" {
		req.Header.Set("X-aliyun-ecs-metadata-token", token)
	}
	return credFetch(ctx, p.http, p.log, p.name, req)
}
