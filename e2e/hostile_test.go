package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostile is scenario 9: what strangers can do from outside. A flood of
// unauthenticated 1 MiB bodies against one replica (its peak RSS, and how
// long a correctly signed hook sent meanwhile took), signed requests
// replayed against both replicas, timestamps from the future, refusals
// that try to make the log large, and sources that try to grow /metrics.
func hostile(t *testing.T, run *runState, sz sizes, f *figures) {
	c := newCluster(t, run, "hostile", clusterOpts{})
	ld := newLoader(c)
	a := c.replicas[0]
	s := run.secrets

	// --- the flood --------------------------------------------------------
	rssBefore := a.peak()
	flood := floodBodies(t, ld, a, s, sz.floodBodies)
	rss := a.peak()
	f.add("flood: %d concurrent unauthenticated 1 MiB bodies in %s, answers %v; peak RSS of %s %s (before the flood %s, goal under 256 MB)",
		sz.floodBodies, flood.took.Round(time.Millisecond), flood.codes, a.name, mb(rss), mb(rssBefore))
	f.add("signed hook during the flood: %d after %d attempt(s) in %s", flood.signedCode, flood.signedAttempts, flood.signedTook.Round(time.Millisecond))
	if rss >= 256<<20 {
		t.Errorf("peak RSS %s under the flood, goal under 256 MB", mb(rss))
	}
	if flood.signedCode != http.StatusAccepted {
		t.Errorf("the signed hook sent during the flood was answered %d", flood.signedCode)
	}
	for code := range flood.codes {
		if code == http.StatusAccepted {
			t.Errorf("an unauthenticated body was accepted: %v", flood.codes)
		}
	}
	if !a.proc.alive() {
		t.Fatalf("%s died under the flood: %v", a.name, a.proc.exitErr())
	}

	// --- replays ------------------------------------------------------------
	body := fmt.Appendf(nil, `{"kind":"refresh","refresh":{"paths":["https://example.com/hostile/replayed-%s.js"]}}`, run.id)
	signed := newJSONRequest(context.Background(), a.base+"/hooks/generic", body)
	signGeneric(signed, s.GenericHMAC, body, time.Now())
	first := ld.do(signed)
	replayCodes := map[int]int{}
	for i := range sz.replays {
		r := c.replicas[i%len(c.replicas)]
		req := newJSONRequest(context.Background(), r.base+"/hooks/generic", body)
		for _, h := range []string{"X-Cdnpurge-Timestamp", "X-Cdnpurge-Signature"} {
			req.Header.Set(h, signed.Header.Get(h))
		}
		if i%2 == 1 { // a replayer adding a fresh Idempotency-Key
			req.Header.Set("Idempotency-Key", fmt.Sprintf("fresh-%d", i))
		}
		replayCodes[ld.do(req)]++
	}
	future := newJSONRequest(context.Background(), a.base+"/hooks/generic", body)
	signGeneric(future, s.GenericHMAC, body, time.Now().Add(time.Minute))
	futureCode := ld.do(future)
	refused := replayCodes[http.StatusConflict] + replayCodes[http.StatusUnauthorized]
	f.add("replays: first %d, %d replays across %d replicas answered %v (refused %d); a timestamp 60 s ahead %d",
		first, sz.replays, len(c.replicas), replayCodes, refused, futureCode)
	if first != http.StatusAccepted || refused != sz.replays || futureCode != http.StatusUnauthorized {
		t.Errorf("replays: first %d, replays %v, future timestamp %d; want 202, all refused, 401", first, replayCodes, futureCode)
	}
	want := map[string]bool{fmt.Sprintf("example.com/hostile/replayed-%s.js", run.id): true}
	l := c.waitLanded(want, time.Minute)
	if l.missing(want) > 0 {
		t.Error("the accepted signed request never landed")
	}

	// --- log amplification ----------------------------------------------------
	logBefore := fileSize(a.proc.logPath)
	const refusals = 200
	for i := range refusals {
		req := newJSONRequest(context.Background(), a.base+"/hooks/generic", []byte(`{}`))
		req.Header.Set("Content-Type", "application/"+strings.Repeat("x", 60<<10))
		if i%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+s.GenericToken) // reaches the 415
		}
		ld.do(req)
	}
	perRefusal := float64(fileSize(a.proc.logPath)-logBefore) / refusals
	f.add("log per refused request with a 60 KB Content-Type: %.0f bytes", perRefusal)
	if perRefusal >= 1024 {
		t.Errorf("%.0f bytes of log per refused request, want under 1 KB", perRefusal)
	}

	// --- forged operations --------------------------------------------------------
	sw := watchStatus(t, ld)
	tick := time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339)
	type forgedOp struct {
		action string
		params map[string]string
		sched  bool // carries schedule and tick fields of a schedule nobody configured
	}
	ops := []forgedOp{
		{"ModifyCdnDomain", map[string]string{"DomainName": "example.com", "Sources": `[{"content":"203.0.113.66","type":"ipaddr","port":80}]`}, false},
		{"SetDomainServerCertificate", map[string]string{"DomainName": "example.com", "ServerCertificateStatus": "on", "ServerCertificate": "-----BEGIN CERTIFICATE-----", "PrivateKey": "-----BEGIN PRIVATE KEY-----"}, false},
		{"SetReqAuthConfig", map[string]string{"DomainName": "example.com", "AuthType": "no_auth"}, false},
		{"SetIpBlackListConfig", map[string]string{"DomainName": "example.com", "BlockIps": "0.0.0.0/0"}, false},
		{"StopCdnDomain", map[string]string{"DomainName": "example.com"}, false},
		{"StopCdnDomain", map[string]string{"DomainName": "evil.example.net"}, false},
		{"ModifyCdnService", map[string]string{"InternetChargeType": "PayByBandwidth"}, false},
		{"StopCdnDomain", map[string]string{"DomainName": "example.com"}, true},
		{"ModifyCdnService", map[string]string{"InternetChargeType": "PayByTraffic"}, true},
	}
	forgedActions := map[string]bool{}
	forged := 0
	opSubjects := map[string]bool{}
	for _, op := range ops {
		forgedActions[op.action] = true
		o := map[string]any{"action": op.action, "params": op.params}
		if op.sched {
			o["schedule"], o["tick"] = "forged-nightly", tick
		}
		body, _ := json.Marshal(map[string]any{"v": 1, "kind": "operation", "operation": o})
		// On the subject the wire format asks for (cdn.ops.<schedule or
		// action>), so that only the authority can refuse it.
		subject := "cdn.ops." + op.action
		if op.sched {
			subject = "cdn.ops.forged-nightly"
		}
		opSubjects[subject] = true
		if _, err := ld.js.Publish(t.Context(), subject, body); err != nil {
			t.Errorf("publish forged %s: %v", op.action, err)
			continue
		}
		forged++
	}
	ticks := 0
	for i := range 3 {
		body := fmt.Appendf(nil, `{"v":1,"schedule":"forged-tick-%d","tick":%q}`, i, tick)
		if _, err := ld.js.Publish(t.Context(), fmt.Sprintf("cdn.sched.forged-tick-%d", i), body); err != nil {
			t.Errorf("publish a fake tick: %v", err)
			continue
		}
		ticks++
	}
	waitFor(30*time.Second, func() bool {
		return sw.invalidIn(opSubjects) >= forged && sw.invalidOn("cdn.sched.forged-tick-") >= ticks
	})
	st := c.stats()
	reached := 0
	var names []string
	for a := range forgedActions {
		reached += st.Actions[a].Calls
		names = append(names, a)
	}
	slices.Sort(names)
	f.add("forged operations on cdn.ops.* (%s, 2 with schedule and tick fields): %d published, %d reported on cdn.status.invalid; fake ticks on cdn.sched.* for unconfigured schedules: %d, %d reported; calls of those actions at the emulator %d",
		strings.Join(names, ", "), forged, sw.invalidIn(opSubjects), ticks, sw.invalidOn("cdn.sched.forged-tick-"), reached)
	f.add("reasons, e.g. %q and %q", sw.reasonIn(opSubjects, ""), sw.reasonIn(nil, "cdn.sched.forged-tick-"))
	if reached > 0 {
		t.Errorf("forged operations reached the API: %d calls of %v", reached, names)
	}
	if got := sw.invalidIn(opSubjects); got != forged {
		t.Errorf("%d of %d forged operations reported on cdn.status.invalid", got, forged)
	}
	if got := sw.invalidOn("cdn.sched.forged-tick-"); got != ticks {
		t.Errorf("%d of %d fake ticks reported on cdn.status.invalid", got, ticks)
	}

	// --- /metrics under hostile sources -----------------------------------------
	before := metricsSize(c)
	for i := range 100 {
		req := newJSONRequest(context.Background(), c.replicas[i%2].base+"/hooks/generic", []byte(`{}`))
		req.Header.Set("Content-Type", fmt.Sprintf("text/x-%d-%s", i, strings.Repeat("y", 1000)))
		req.Header.Set("Authorization", "Bearer "+s.GenericToken)
		ld.do(req)
		ld.do(newJSONRequest(context.Background(), c.replicas[i%2].base+fmt.Sprintf("/hooks/unknown-%d", i), []byte(`{}`)))
	}
	afterHooks := metricsSize(c)
	big := strings.Repeat("s", 100<<10)
	published := 0
	srcPaths := map[string]bool{}
	for i := range 100 {
		srcPaths[fmt.Sprintf("example.com/hostile/src-%s-%d.js", run.id, i)] = true
		job, _ := json.Marshal(map[string]any{"v": 1, "kind": "refresh", "source": fmt.Sprintf("%s-%d", big, i),
			"refresh": map[string]any{"paths": []string{fmt.Sprintf("https://example.com/hostile/src-%s-%d.js", run.id, i)}}})
		if _, err := ld.js.Publish(t.Context(), "cdn.purge.refresh", job); err == nil {
			published++
		}
		op, _ := json.Marshal(map[string]any{"v": 1, "kind": "operation", "operation": map[string]any{"action": fmt.Sprintf("Evil%dAction", i)}})
		if _, err := ld.js.Publish(t.Context(), fmt.Sprintf("cdn.ops.evil%d", i), op); err == nil {
			published++
		}
	}
	// The jobs with large sources are valid: once their paths landed the
	// worker has seen them.
	c.waitLanded(srcPaths, 30*time.Second)
	afterNATS := metricsSize(c)
	f.add("/metrics of both replicas %s; +%s after 200 hostile hooks; +%s after %d NATS messages with 100 KB sources or unknown operations",
		kb(before), kb(afterHooks-before), kb(afterNATS-afterHooks), published)
	if afterHooks-before > 16<<10 {
		t.Errorf("/metrics grew by %s from hostile hooks", kb(afterHooks-before))
	}
	// Worker labels come from fixed sets: a few new series at most (100
	// messages with 100 KB sources grew it by 11 MB before).
	if afterNATS-afterHooks > 32<<10 {
		t.Errorf("/metrics grew by %s from NATS messages with 100 KB sources or unknown operations, bound 32 KB", kb(afterNATS-afterHooks))
	}
}

func kb(n int64) string { return fmt.Sprintf("%.1f KB", float64(n)/1024) }

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// metricsSize is the size of every replica's /metrics answer.
func metricsSize(c *cluster) int64 {
	var n int64
	client := &http.Client{Timeout: 5 * time.Second}
	for _, r := range c.replicas {
		resp, err := client.Get(r.admin + "/metrics")
		if err != nil {
			continue
		}
		m, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n += m
	}
	return n
}

type floodResult struct {
	took           time.Duration
	codes          map[int]int
	signedCode     int
	signedAttempts int
	signedTook     time.Duration
}

// floodBodies sends n concurrent 1 MiB bodies without valid credentials
// to r (no credentials, a wrong bearer or GitLab token, a wrong GitHub or
// HMAC signature), and, once half of them are on their way, one correctly
// signed generic hook from a sender that honours Retry-After once.
func floodBodies(t *testing.T, ld *loader, r *replica, s secrets, n int) floodResult {
	t.Helper()
	payload := bytes.Repeat([]byte("x"), 1<<20)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections() // see newLoader
	res := floodResult{codes: map[int]int{}}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		start   = make(chan struct{})
		halfway sync.WaitGroup
	)
	halfway.Add(n / 2)
	for i := range n {
		wg.Go(func() {
			<-start
			path := "/hooks/generic"
			req := newJSONRequest(context.Background(), r.base+path, payload)
			switch i % 5 {
			case 1:
				req.Header.Set("Authorization", "Bearer not-the-token-0123456789")
			case 2:
				req = newJSONRequest(context.Background(), r.base+"/hooks/gitlab", payload)
				req.Header.Set("X-Gitlab-Token", "not-the-token-0123456789")
			case 3:
				req = newJSONRequest(context.Background(), r.base+"/hooks/github", payload)
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			case 4:
				req.Header.Set("X-Cdnpurge-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
				req.Header.Set("X-Cdnpurge-Signature", "sha256="+strings.Repeat("0", 64))
			}
			if i < n/2 {
				halfway.Done()
			}
			code := 0
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			res.codes[code]++
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	halfway.Wait()
	body := []byte(`{"kind":"refresh","refresh":{"paths":["https://example.com/hostile/during-flood.js"]}}`)
	signedAt := time.Now()
	signer := &http.Client{Timeout: 30 * time.Second}
	for res.signedAttempts < 2 {
		res.signedAttempts++
		req := newJSONRequest(context.Background(), r.base+"/hooks/generic", body)
		req.Header.Set("Idempotency-Key", "during-flood")
		signGeneric(req, s.GenericHMAC, body, time.Now().Add(time.Duration(res.signedAttempts)*time.Second))
		resp, err := signer.Do(req)
		if err != nil {
			res.signedCode = 0
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res.signedCode = resp.StatusCode
		if resp.StatusCode != http.StatusServiceUnavailable {
			break
		}
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(secs) * time.Second)
	}
	res.signedTook = time.Since(signedAt)
	wg.Wait()
	res.took = time.Since(t0)
	return res
}
