// Package apiclient is the Alibaba Cloud purge API client of cdnpurge. A
// product (CDN, DCDN) is a Target value; the Client has one method per
// operation, which takes the Target, and one request path for all of them:
// signing (apiclient/signer), credentials per request
// (apiclient/credentials), transport, calls/s pacing, per-domain pacing,
// breaker, typed API errors and the retry policy. It knows nothing about
// NATS, Redis or jobs.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/apiclient/signer"
	"github.com/cdnpurge/cdnpurge/redact"
)

// EnvEndpoint overrides the CDN endpoint, for example to point at the
// emulator (http://127.0.0.1:8080).
const EnvEndpoint = "CDNPURGE_ENDPOINT"

// maxBody bounds what is read of one answer; real answers are a few KiB.
const maxBody = 8 << 20

// RetryPolicy bounds the retries of one call. Every attempt is a new request
// with a new nonce, timestamp and signature.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt; default 6.
	MaxAttempts uint64 `yaml:"max_attempts" json:"max_attempts"`
	// Base is the first backoff; default 200ms. It doubles each retry.
	Base time.Duration `yaml:"base" json:"base"`
	// Max caps one backoff; default 10s.
	Max time.Duration `yaml:"max" json:"max"`
	// MaxTotal bounds the time spent backing off in one call; default 2m.
	MaxTotal time.Duration `yaml:"max_total" json:"max_total"`
	// JitterPercent spreads each backoff by ±this percent; default 20.
	JitterPercent uint64 `yaml:"jitter_percent" json:"jitter_percent"`
}

// WithDefaults fills zero fields with their defaults.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 6
	}
	if p.Base == 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.Max == 0 {
		p.Max = 10 * time.Second
	}
	if p.MaxTotal == 0 {
		p.MaxTotal = 2 * time.Minute
	}
	if p.JitterPercent == 0 {
		p.JitterPercent = 20
	}
	return p
}

// backoff returns a new Backoff for one call: go-retry backoffs hold state,
// so one must never be shared between calls.
func (p RetryPolicy) backoff() retry.Backoff {
	b := retry.NewExponential(p.Base)
	b = retry.WithJitterPercent(p.JitterPercent, b)
	b = retry.WithCappedDuration(p.Max, b)
	b = retry.WithMaxDuration(p.MaxTotal, b)
	return retry.WithMaxRetries(p.MaxAttempts-1, b)
}

// Attempt describes one HTTP exchange, for metrics.
type Attempt struct {
	Action     string
	Attempt    int
	Duration   time.Duration
	HTTPStatus int
	Code       string
	RequestID  string
	Err        error
}

// Options configures a Client.
type Options struct {
	// Endpoint is the CDN API base URL; default CDN().Endpoint.
	Endpoint string
	// Endpoints are the base URLs of other products (and of CDN, over
	// Endpoint); a product not in it is called at its Target's Endpoint.
	Endpoints map[Product]string
	// Version is the CDN API version sent instead of CDN().Version
	// (versionLegacy is signed with v1); empty sends the target's.
	Version string
	// Signature is signer.V1 or signer.V3; empty means V3, and v1 for
	// Version 2014-11-11.
	Signature string
	// Credentials is a fixed key pair, used when Provider is nil.
	Credentials credentials.Credentials
	// Provider hands out the credentials of each request; it wins over
	// Credentials. Providers that cache and refresh
	// (credentials.NewChainProvider) let a rotation take effect without a
	// restart.
	Provider credentials.Provider
	// STSEndpoint serves GetCallerIdentity; default credentials.DefaultSTSEndpoint.
	STSEndpoint string
	HTTPClient  *http.Client
	Retry       RetryPolicy
	// RateLimits overrides the calls/s of an action (defaultRateLimits for
	// the rest). A negative value turns the limit off for that action.
	RateLimits map[string]float64
	// RateShare is the part of the account's calls/s this process may use,
	// in (0,1]; with N replicas and no shared limiter, 1/N. Default 1.
	RateShare float64
	// Limiter replaces the in-process limiter, for example with one shared
	// by replicas.
	Limiter Limiter
	// Now and Nonce feed the signer; nil means the real clock and
	// signer.NewNonce.
	Now   func() time.Time
	Nonce func() string
	// Logger receives retry warnings and debug lines; nil discards.
	Logger *slog.Logger
	// OnAttempt, when set, is called after every HTTP exchange.
	OnAttempt func(Attempt)
	// Breaker holds calls back during an outage. Each product gets one
	// with this policy, so an outage of one does not hold back another.
	Breaker BreakerPolicy
	// DomainPacer, when set, keeps every product's URL refreshes (its
	// Target's Paced object types) under the per-domain per-minute URL
	// limit: a call waits until its URLs fit. One pacer can serve CDN and
	// DCDN: both limit a domain to 1,000 URLs a minute and a domain is on
	// one product only.
	DomainPacer DomainPacer
	// DomainPacers override DomainPacer per product, to pace one at
	// another limit (or not at all: NoPacing()).
	DomainPacers map[Product]DomainPacer
}

// Client calls the Alibaba Cloud purge APIs. It is safe for concurrent use.
type Client struct {
	routes    map[Product]*route
	sts       *route
	scheme    string
	now       func() time.Time
	nonce     func() string
	creds     credentials.Provider
	http      *http.Client
	retry     RetryPolicy
	limiter   Limiter
	log       *slog.Logger
	onAttempt func(Attempt)
	// sites caches ESA SiteIds by site name (SiteID).
	sites siteCache
}

// route is where the calls of one API go: its endpoint, the version that
// overrides its target's, the breaker that holds them back while that API
// fails and the pacer of its refreshes.
type route struct {
	name     string // for logs: "CDN", "DCDN", "STS"
	endpoint string
	version  string // "": the target's
	breaker  *breaker
	pacer    DomainPacer
}

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	creds := opts.Provider
	if creds == nil {
		if err := opts.Credentials.Validate(); err != nil {
			return nil, err
		}
		creds = credentials.StaticProvider{Value: opts.Credentials, Name: "static"}
	}
	sts, err := normEndpoint("sts endpoint", opts.STSEndpoint, credentials.DefaultSTSEndpoint)
	if err != nil {
		return nil, err
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	lim := opts.Limiter
	if lim == nil {
		lim = NewActionLimiter(opts.RateLimits, opts.RateShare)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now, nonce := opts.Now, opts.Nonce
	if now == nil {
		now = time.Now
	}
	if nonce == nil {
		nonce = signer.NewNonce
	}
	c := &Client{
		routes:    map[Product]*route{},
		scheme:    opts.Signature,
		now:       now,
		nonce:     nonce,
		creds:     creds,
		http:      hc,
		retry:     opts.Retry.WithDefaults(),
		limiter:   lim,
		log:       log,
		onAttempt: opts.OnAttempt,
	}
	for _, t := range Targets() {
		r := &route{name: strings.ToUpper(string(t.Product)), breaker: newBreaker(opts.Breaker), pacer: opts.DomainPacer}
		if p, ok := opts.DomainPacers[t.Product]; ok && p != nil {
			r.pacer = p
		}
		field, raw := string(t.Product)+"_endpoint", opts.Endpoints[t.Product]
		if t.Product == ProductCDN {
			field, r.version = "endpoint", opts.Version
			if raw == "" {
				raw = opts.Endpoint
			}
		}
		if r.endpoint, err = normEndpoint(field, raw, t.Endpoint); err != nil {
			return nil, err
		}
		c.routes[t.Product] = r
	}
	// STS is asked for the caller's identity around CDN calls; it shares
	// the CDN breaker as it always did.
	c.sts = &route{name: "STS", endpoint: sts, version: stsVersion, breaker: c.routes[ProductCDN].breaker}
	return c, nil
}

// route returns the route of target t's product.
func (c *Client) route(t Target) (*route, error) {
	r, ok := c.routes[t.Product]
	if !ok {
		return nil, fmt.Errorf("product %q: not a target this client knows", t.Product)
	}
	if r.version != "" {
		t.Version = r.version
	}
	rv := *r
	rv.version = t.Version
	return &rv, nil
}

func normEndpoint(field, s, def string) (string, error) {
	u, err := endpointURL(s, def)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return u, nil
}

// endpointURL is s (def when empty) as an endpoint URL; its error names
// the value, not the field.
func endpointURL(s, def string) (string, error) {
	if s == "" {
		s = def
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q: want a URL such as https://cdn.aliyuncs.com or http://127.0.0.1:8080", s)
	}
	u.Path = "/"
	u.RawQuery = ""
	return u.String(), nil
}

// Endpoint returns the CDN endpoint the client calls.
func (c *Client) Endpoint() string { return c.routes[ProductCDN].endpoint }

// Call sends a CDN API action with params and decodes the JSON answer into
// out (which may be nil). It retries retryable errors within the policy,
// signing each attempt afresh, and returns an *Error for an API error answer.
func (c *Client) Call(ctx context.Context, action string, params url.Values, out any) error {
	rt, err := c.route(CDN())
	if err != nil {
		return err
	}
	return c.call(ctx, rt, http.MethodPost, action, params, out)
}

func (c *Client) call(ctx context.Context, r *route, method, action string, params url.Values, out any) error {
	attempt := 0
	var last error
	err := retry.Do(ctx, c.retry.backoff(), func(ctx context.Context) error {
		attempt++
		if err := r.breaker.check(r.name, action, time.Now()); err != nil {
			// Not retried here: the caller decides when to come back.
			return err
		}
		if err := c.limiter.Wait(ctx, action); err != nil {
			return fmt.Errorf("%s: waiting for the rate limiter: %w", action, err)
		}
		err := c.once(ctx, r.endpoint, r.version, method, action, attempt, params, out)
		serverFailure := err != nil && ctx.Err() == nil && Classify(err) == ClassRetryable
		if opened, until := r.breaker.record(serverFailure, time.Now()); opened {
			c.log.Warn("the API keeps failing; holding its calls back", slog.String("api", r.name),
				slog.String("until", until.UTC().Format(time.RFC3339)), slog.String("last_error", err.Error()))
		}
		if err == nil {
			return nil
		}
		last = err
		if cls := Classify(err); cls.retryable() {
			c.log.Warn("cdn api call failed, retrying with a new signature",
				slog.String("action", action), slog.Int("attempt", attempt),
				slog.String("class", cls.String()), slog.String("code", Code(err)),
				slog.String("request_id", requestID(err)), slog.String("error", err.Error()))
			return retry.RetryableError(err)
		}
		return err
	})
	if err != nil && last != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && !errors.Is(last, err) {
		// Keep what the API last said next to why we stopped asking.
		return fmt.Errorf("%w (after %d attempts; last: %w)", err, attempt, last)
	}
	return err
}

func requestID(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.RequestID
	}
	return ""
}

func (c *Client) once(ctx context.Context, endpoint, version, method, action string, attempt int, params url.Values, out any) error {
	p := make(url.Values, len(params)+1)
	for k, v := range params {
		p[k] = v
	}
	p.Set("Action", action)
	// Asked for every attempt: a provider that refreshes hands out the
	// current key, so a rotation or an STS renewal needs no restart.
	creds, err := c.creds.Credentials(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	scheme := c.scheme
	if scheme == "" && version == versionLegacy {
		scheme = signer.V1
	}
	signed := signer.Sign(signer.Request{
		Method: method, Host: hostPort(endpoint), Params: p, Version: version, Scheme: scheme,
		AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret, SecurityToken: creds.SecurityToken,
		Time: c.now(), Nonce: c.nonce(),
	})

	target := endpoint
	if signed.Query != "" {
		target += "?" + signed.Query
	}
	var reqBody io.Reader
	if signed.Body != nil {
		reqBody = bytes.NewReader(signed.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reqBody)
	if err != nil {
		return fmt.Errorf("%s: build request: %w", action, err)
	}
	for k, v := range signed.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cdnpurge")

	start := time.Now()
	info := Attempt{Action: action, Attempt: attempt}
	defer func() {
		info.Duration = time.Since(start)
		if c.onAttempt != nil {
			c.onAttempt(info)
		}
	}()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			info.Err = ctx.Err()
			return fmt.Errorf("%s: %w", action, ctx.Err())
		}
		info.Err = &NetworkError{Action: action, Err: scrubURLError(err)}
		return info.Err
	}
	defer resp.Body.Close()
	info.HTTPStatus = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		info.Err = &NetworkError{Action: action, Err: fmt.Errorf("read answer: %w", err)}
		return info.Err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := parseError(action, resp.StatusCode, body)
		info.Code, info.RequestID, info.Err = ae.Code, ae.RequestID, ae
		c.log.Debug("cdn api error", slog.String("action", action), slog.Int("status", ae.HTTPStatus),
			slog.String("code", ae.Code), slog.String("request_id", ae.RequestID), slog.String("body", redact.Text(string(body))))
		return ae
	}
	var rid struct {
		RequestID string `json:"RequestId"`
	}
	_ = json.Unmarshal(body, &rid)
	info.RequestID = rid.RequestID
	c.log.Debug("cdn api call", slog.String("action", action), slog.String("request_id", rid.RequestID),
		slog.Int("attempt", attempt))
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			info.Err = fmt.Errorf("%s: decode answer (RequestId %s): %w", action, rid.RequestID, err)
			return info.Err
		}
	}
	return nil
}

// scrubURLError drops the request URL from a transport error: for GET it
// holds the signed query, which must not reach logs.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, hostOf(ue.URL), ue.Err)
	}
	return err
}

// hostPort is the Host header a request to endpoint carries.
func hostPort(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Host
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "endpoint"
	}
	return u.Scheme + "://" + u.Host
}

// parseError reads an error answer. Only what the API's JSON names is
// kept, each part checked for its form (a code, a request ID) or scrubbed
// (the message); any other answer (a proxy's HTML page, say) becomes its
// HTTP status's text: a body never enters an error.
func parseError(action string, status int, body []byte) *Error {
	var e struct {
		RequestID string `json:"RequestId"`
		HostID    string `json:"HostId"`
		Code      string `json:"Code"`
		Message   string `json:"Message"`
	}
	ae := &Error{Action: action, HTTPStatus: status, Code: fmt.Sprintf("HTTP%d", status), Message: http.StatusText(status)}
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		if ae.Message == "" {
			ae.Message = "error answer"
		}
		return ae
	}
	if idShape.MatchString(e.Code) {
		ae.Code = e.Code
	}
	if idShape.MatchString(e.RequestID) {
		ae.RequestID = e.RequestID
	}
	if idShape.MatchString(e.HostID) {
		ae.HostID = e.HostID
	}
	ae.Message = redact.Clip(redact.Escape(redact.Scrub(e.Message)), 300)
	return ae
}

// idShape is the form of an error code, request ID or host ID.
var idShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)
