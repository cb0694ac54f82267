package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sender kinds of the load, by unit index modulo 10: four in ten units go
// over NATS, four as generic hooks with a bearer token, one as a generic
// hook with an HMAC signature, one as a signed GitHub push.
const (
	viaNATS    = "nats"
	viaBearer  = "generic-bearer"
	viaHMAC    = "generic-hmac"
	viaGitHub  = "github-push"
	perUnit    = 100
	resendWait = 200 * time.Millisecond
)

var senderOf = [10]string{viaNATS, viaNATS, viaNATS, viaNATS, viaBearer, viaBearer, viaBearer, viaBearer, viaHMAC, viaGitHub}

var hosts = [3]string{"example.com", "a.example.com", "b.example.com"}

// loadOpts shape one load run.
type loadOpts struct {
	tag      string        // unique path segment of this load
	urls     int           // URLs in total, a multiple of perUnit
	duration time.Duration // sends are spread evenly over it
	workers  int
	only     string // one sender kind for every unit ("" mixes them)
	// giveUp is how long one unit is resent before it counts as refused.
	giveUp time.Duration
	// onAttempt, if set, is told of every answer as it comes (from the
	// load's goroutines, one at a time per goroutine).
	onAttempt func(attempt)
}

// attempt is one send and its answer, as the process reported it.
type attempt struct {
	via        string
	sent, done time.Time
	code       int // HTTP status; 0 for a network error; 200 for a JetStream ack
}

// loadResult is what a load run sent and what was acknowledged.
type loadResult struct {
	mu       sync.Mutex
	accepted map[string]bool // paths (without scheme) of acknowledged units
	attempts []attempt
	refused  int // units never acknowledged
	resends  int
	start    time.Time
	end      time.Time
}

func (r *loadResult) codes() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, a := range r.attempts {
		out[a.via+" "+strconv.Itoa(a.code)]++
	}
	return out
}

// loader sends units of perUnit paths to a cluster's replicas and NATS.
type loader struct {
	c    *cluster
	js   jetstream.JetStream
	nc   *nats.Conn
	http *http.Client
	next atomic.Int64 // round-robin over replicas
}

func newLoader(c *cluster) *loader {
	c.t.Helper()
	url := ""
	if c.nats != nil {
		url = c.nats.URL()
	} else {
		url = c.opts.natsCluster.URLs()
	}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.Name("e2e-load"))
	if err != nil {
		c.t.Fatalf("connect to NATS: %v", err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	l := &loader{c: c, js: js, nc: nc, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	// Before the replicas are stopped (cleanups run last in, first out):
	// a connection the transport dialed but never sent a request on keeps
	// a replica's graceful shutdown waiting for it (net/http counts a new
	// connection idle only after 5 s).
	c.t.Cleanup(l.http.CloseIdleConnections)
	return l
}

// run sends o.urls URLs and returns when every unit was acknowledged or
// given up on.
func (l *loader) run(ctx context.Context, o loadOpts) *loadResult {
	if o.workers == 0 {
		o.workers = 8
	}
	if o.giveUp == 0 {
		o.giveUp = 2 * time.Minute
	}
	units := o.urls / perUnit
	res := &loadResult{accepted: make(map[string]bool, o.urls), start: time.Now()}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for {
				u := int(next.Add(1)) - 1
				if u >= units || ctx.Err() != nil {
					return
				}
				due := res.start.Add(time.Duration(int64(o.duration) * int64(u) / int64(units)))
				if d := time.Until(due); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				l.sendUnit(ctx, o, u, res)
			}
		})
	}
	wg.Wait()
	res.end = time.Now()
	return res
}

// sendUnit sends unit u until it is acknowledged, as a sender that retries
// would: a refused or unreachable replica is retried on the next one.
func (l *loader) sendUnit(ctx context.Context, o loadOpts, u int, res *loadResult) {
	via := o.only
	if via == "" {
		via = senderOf[u%10]
	}
	pub := time.Now().UnixNano()
	paths := make([]string, perUnit) // what the emulator must see, without scheme
	files := make([]string, perUnit)
	for i := range paths {
		name := fmt.Sprintf("e2e/%s/%d-%d-%d.js", o.tag, u, i, pub)
		if via == viaGitHub {
			files[i] = "public/" + name
			paths[i] = "static.example.com/" + name
		} else {
			paths[i] = hosts[u%3] + "/" + name
			files[i] = "https://" + paths[i]
		}
	}
	id := fmt.Sprintf("e2e-%s-%d", o.tag, u)
	deadline := time.Now().Add(o.giveUp)
	var signedSec int64
	for try := 0; ; try++ {
		if via == viaHMAC {
			// A signature is accepted once: a retry is signed afresh, with
			// a timestamp at least a second later.
			for time.Now().Unix() <= signedSec {
				time.Sleep(time.Until(time.Unix(signedSec+1, 0)))
			}
			signedSec = time.Now().Unix()
		}
		sent := time.Now()
		code := l.send(ctx, via, id, files)
		a := attempt{via: via, sent: sent, done: time.Now(), code: code}
		if o.onAttempt != nil {
			o.onAttempt(a)
		}
		res.mu.Lock()
		res.attempts = append(res.attempts, a)
		if try > 0 {
			res.resends++
		}
		if code == http.StatusAccepted || (via == viaNATS && code == http.StatusOK) {
			for _, p := range paths {
				res.accepted[p] = true
			}
			res.mu.Unlock()
			return
		}
		res.mu.Unlock()
		retriable := code == 0 || code == http.StatusServiceUnavailable || code == http.StatusBadGateway
		if !retriable || time.Now().After(deadline) || ctx.Err() != nil {
			res.mu.Lock()
			res.refused++
			res.mu.Unlock()
			return
		}
		select {
		case <-time.After(resendWait):
		case <-ctx.Done():
		}
	}
}

// send makes one attempt and returns the HTTP status (200 for a JetStream
// ack, 0 for an error without a status).
func (l *loader) send(ctx context.Context, via, id string, paths []string) int {
	if via == viaNATS {
		body, _ := json.Marshal(map[string]any{"v": 1, "id": id, "kind": "refresh", "source": "e2e",
			"refresh": map[string]any{"paths": paths}})
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := l.js.Publish(pctx, "cdn.purge.refresh", body, jetstream.WithMsgID(id)); err != nil {
			return 0
		}
		return http.StatusOK
	}
	r := l.c.replicas[int(l.next.Add(1))%len(l.c.replicas)]
	s := l.c.run.secrets
	var req *http.Request
	switch via {
	case viaGitHub:
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": id,
			"repository": map[string]any{"full_name": "acme/site", "name": "site"},
			"commits":    []map[string]any{{"id": id, "added": paths, "modified": []string{}, "removed": []string{}}}})
		req = newJSONRequest(ctx, r.base+"/hooks/github", body)
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(s.GitHubSecret, body))
	default:
		body, _ := json.Marshal(map[string]any{"id": id, "kind": "refresh", "refresh": map[string]any{"paths": paths}})
		req = newJSONRequest(ctx, r.base+"/hooks/generic", body)
		if via == viaHMAC {
			signGeneric(req, s.GenericHMAC, body, time.Now())
		} else {
			req.Header.Set("Authorization", "Bearer "+s.GenericToken)
		}
	}
	return l.do(req)
}

func (l *loader) do(req *http.Request) int {
	resp, err := l.http.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func newJSONRequest(ctx context.Context, url string, body []byte) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func hmacHex(secret string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// signGeneric adds the generic hook's timestamped HMAC headers; an
// Idempotency-Key already set on req is signed too
// (docs/webhooks-security.md).
func signGeneric(req *http.Request, secret string, body []byte, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	prefix := ts + "."
	if k := req.Header.Get("Idempotency-Key"); k != "" {
		prefix += k + "."
	}
	req.Header.Set("X-Cdnpurge-Timestamp", ts)
	req.Header.Set("X-Cdnpurge-Signature", "sha256="+hmacHex(secret, []byte(prefix), body))
}
