// Package cdnemu is an emulator of the Alibaba Cloud CDN RPC API: a real
// HTTP handler that checks v1 and V3 signatures, nonces, timestamps and STS
// tokens, serves STS (GetCallerIdentity, AssumeRole, AssumeRoleWithOIDC),
// can listen with TLS, keeps an
// account with domains, daily quotas, per-action rate limits, refresh and
// push tasks and the service's billing state, serves DCDN's refresh,
// preload, quota and task actions (API 2018-01-15) on DCDN domains with a
// quota and tasks of their own, injects faults on demand (for every call
// or for one product's) and records what it received so that tests can
// assert on it. It speaks the
// protocol of the seeds, not of our client: any correctly signed request
// works. It is for tests, benchmarks and demos, never for production paths.
package cdnemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// maxBodyBytes bounds a form body: 1,000 paths of 1,024 characters,
// percent-encoded, fit well below it.
const maxBodyBytes = 16 << 20

// Emulator is an http.Handler that answers like the CDN API for one account.
// All its methods are safe for concurrent use.
type Emulator struct {
	opts Options
	keys *keyring
	now  func() time.Time

	latency atomic.Int64 // time.Duration of Faults.Latency, read without mu

	mu       sync.Mutex
	faults   faultState
	limits   rateLimits
	nonces   nonceStore
	cdn      product
	dcdn     product
	service  service
	rec      recorder
	idRNG    *rand.Rand
	requests uint64
	// stsIssued counts the temporary keys STS minted.
	stsIssued int
	// answered is closed and replaced after every call answered (Answered).
	answered chan struct{}
}

// New returns an Emulator configured by opts, defaults filled in.
func New(opts Options) (*Emulator, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("cdnemu: %w", err)
	}
	o := opts.withDefaults()
	e := &Emulator{
		opts: o,
		keys: newKeyring(o.AccessKeyID, o.AccessKeySecret, o.ExtraKeys),
		now:  o.Now,
	}
	now := o.Now()
	e.idRNG = rand.New(rand.NewPCG(o.Seed, 0x5eed1d))
	e.faults = newFaultState(o.Faults, o.Seed)
	e.latency.Store(int64(o.Faults.Latency))
	e.limits = newRateLimits(o.RateLimits, o.NoRateLimit)
	e.nonces = newNonceStore(o.MaxNonces)
	e.cdn = newCDN(o, now)
	e.dcdn = newDCDN(o, now)
	e.service = newService(o, now)
	e.rec = newRecorder(o.RecordRequests, !o.NoRecordPaths)
	e.answered = make(chan struct{})
	return e, nil
}

// request is one parsed API call.
type request struct {
	method string
	params url.Values
	action string
	// product is the action's (actions[action].product), set before the
	// handler runs.
	product apiclient.Product
	id      string // RequestId of the answer
	// v3 holds what a signature V3 check needs; nil for a v1 request.
	v3 *v3Request
}

// ServeHTTP answers one API call.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The API is only ever called at "/"; the admin API's prefix never
	// reaches the signed-request path.
	if e.opts.Admin && strings.HasPrefix(r.URL.Path, AdminPrefix) {
		e.serveAdmin(w, r)
		return
	}
	if d := time.Duration(e.latency.Load()); d > 0 {
		if !sleepCtx(r.Context(), d) {
			return
		}
	}
	now := e.now()
	req, a := parseRequest(w, r)
	if a == nil && !unsignedActions[req.action] {
		a = e.authenticate(req, now)
	}

	e.mu.Lock()
	e.requests++
	req.id = e.newRequestID()
	a = e.process(req, a, now)
	e.rec.add(req, a, now)
	close(e.answered)
	e.answered = make(chan struct{})
	e.mu.Unlock()

	writeAnswer(w, a, req.id, hostID(req.action))
}

// Answered returns a channel closed when the emulator next answers a
// call, so a test waits for what the emulator records instead of polling
// it.
func (e *Emulator) Answered() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.answered
}

// process runs the stateful part of a call under e.mu: the outage window,
// nonce, forced and random faults, throttling and the action itself. a is
// the answer of the stateless checks, nil when they passed.
func (e *Emulator) process(req *request, a *answer, now time.Time) *answer {
	e.limits.observe(req.action, now)
	req.product = actions[req.action].product
	if now.Before(e.faults.outageUntil) || now.Before(e.faults.productOutage[req.product]) {
		return fail("ServiceUnAvailable")
	}
	if a != nil {
		return a
	}
	if !unsignedActions[req.action] && !e.nonces.use(req.params.Get("SignatureNonce"), now) {
		return fail("SignatureNonceUsed")
	}
	if a := e.faults.inject(req.action, req.product); a != nil {
		return a
	}
	if !e.limits.admit(req.action, now) {
		return fail("Throttling.User")
	}
	return actions[req.action].handle(e, req, now)
}

// parseRequest collects the parameters of the query string and, for a form
// POST, of the body: the signature covers their union.
func parseRequest(w http.ResponseWriter, r *http.Request) (*request, *answer) {
	req := &request{method: r.Method}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return req, fail("InvalidParameter", "The query string is not well formed: "+err.Error())
	}
	req.params = params
	req.action = params.Get("Action")
	v3 := isV3(r)
	if v3 {
		req.v3 = &v3Request{query: cloneValues(params), header: r.Header, host: r.Host, path: r.URL.Path, bodyHash: sha256Hex(nil)}
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/x-www-form-urlencoded" && !v3 {
			break
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			return req, fail("InvalidParameter", "The request body could not be read: "+err.Error())
		}
		if v3 {
			req.v3.bodyHash = sha256Hex(body)
		}
		if ct != "application/x-www-form-urlencoded" {
			break
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return req, fail("InvalidParameter", "The form body is not well formed: "+err.Error())
		}
		for k, vs := range form {
			params[k] = append(params[k], vs...)
		}
		req.action = params.Get("Action")
	default:
		return req, fail("UnsupportedHTTPMethod")
	}
	if v3 {
		req.v3.liftHeaders(params)
		req.action = params.Get("Action")
	}
	return req, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newRequestID returns a UUID-shaped RequestId, unique within the emulator
// (the sequence number is part of it) and repeatable under a seed.
func (e *Emulator) newRequestID() string {
	r := e.idRNG.Uint64()
	return fmt.Sprintf("%08X-%04X-4%03X-8%03X-%012X", uint32(r>>32), uint16(r>>16), uint16(r)&0xfff, (r>>4)&0xfff, e.requests)
}

func hostID(action string) string {
	if actions[action].product == apiclient.ProductDCDN {
		return "dcdn.aliyuncs.com"
	}
	return "cdn.aliyuncs.com"
}

// errorBody is the wire shape of an error answer.
type errorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
}

func writeAnswer(w http.ResponseWriter, a *answer, reqID, host string) {
	var out []byte
	var err error
	if a.failed() {
		out, err = json.Marshal(errorBody{RequestID: reqID, HostID: host, Code: a.code, Message: a.msg})
	} else {
		a.body["RequestId"] = reqID
		out, err = json.Marshal(a.body)
	}
	if err != nil {
		a.status = http.StatusInternalServerError
		out = []byte(`{"Code":"InternalError","Message":"emulator could not encode its answer"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(a.status)
	_, _ = w.Write(out)
}

// isCDNVersion reports a Version the CDN actions accept.
func isCDNVersion(v string) bool {
	return v == cdnVersion || v == cdnLegacyVersion
}

// trimmed returns the parameter's first value without surrounding blanks.
func trimmed(p url.Values, name string) string { return strings.TrimSpace(p.Get(name)) }
