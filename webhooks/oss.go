package webhooks

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// ossPublishers bounds the events of one request stored at once.
const ossPublishers = 16

// headerName matches an HTTP header name of the usual form.
var headerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

func validHeaderName(h string) bool { return headerName.MatchString(h) }

// bucketName matches OSS bucket names (lower-case letters, digits and
// hyphens, 3 to 63 characters; OSS's "Bucket naming conventions"): the
// name is the only text of an event that reaches a job's source.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

// authOSS checks the hook's token before anything is read: in the
// configured API-key header, as a bearer token, or as the password of
// Basic auth (the three ways an EventBridge connection can send it).
func (s *Server) authOSS(r *http.Request) *hookError {
	if h := s.cfg.OSSAPIKeyHeader; h != "" && !strings.EqualFold(h, "Authorization") {
		if v := r.Header.Get(h); v != "" {
			if tokenEqual(v, s.cfg.OSSToken) {
				return nil
			}
			return refuse(http.StatusUnauthorized, "bad_token", "%s does not match the configured oss_token", clip(h, maxEchoValue))
		}
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		want := "Authorization: Bearer <token> or Basic auth with the token as password"
		if h := s.cfg.OSSAPIKeyHeader; h != "" && !strings.EqualFold(h, "Authorization") {
			want = clip(h, maxEchoValue) + ": <token>, or " + want
		}
		return refuse(http.StatusUnauthorized, "missing_credentials", "send %s (see docs/oss.md)", want)
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if tokenEqual(cred, s.cfg.OSSToken) {
			return nil
		}
	case strings.EqualFold(scheme, "Basic"):
		dec, err := base64.StdEncoding.DecodeString(cred)
		if _, pass, ok := strings.Cut(string(dec), ":"); err == nil && ok && tokenEqual(pass, s.cfg.OSSToken) {
			return nil
		}
	default:
		return refuse(http.StatusUnauthorized, "bad_token", "Authorization scheme must be Bearer or Basic")
	}
	return refuse(http.StatusUnauthorized, "bad_token", "Authorization does not carry the configured oss_token")
}

// ossMediaType refuses bodies that are not JSON (415) and returns the
// media type.
func ossMediaType(r *http.Request) (string, *hookError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && (mt == "application/json" || mt == mediaCloudEvent || mt == mediaCloudEventBatch) {
		return mt, nil
	}
	return "", refuse(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: send application/json, %s or %s",
		clip(r.Header.Get("Content-Type"), maxEchoValue), mediaCloudEvent, mediaCloudEventBatch)
}

// ossUnit is what one event asks for: its jobs, stored under the event's
// own idempotency key.
type ossUnit struct {
	ev  ossEvent
	key string
	js  []*jobs.Job
	// dupOf is the index of an earlier unit of the same request with the
	// same key (the batch carried the event twice); -1 when none.
	dupOf int
}

// ossIdentity is what makes two deliveries one change: the kind of
// change, the object, its ETag and the time OSS gives the event. The time
// tells a redelivery from a later write of the same content after another
// one (A, B, A again within the duplicate window must refresh again). An
// event with neither time nor id is not deduplicated.
func ossIdentity(ev ossEvent, change string) string {
	if ev.time == "" && ev.id == "" {
		return ""
	}
	if ev.time == "" {
		return "id\x00" + ev.id
	}
	return strings.Join([]string{change, ev.bucket, ev.key, ev.etag, ev.time}, "\x00")
}

// mapOSS turns events into units; events that change nothing a rule
// covers are listed as ignored, URLs the allowlist refuses as refused.
func (s *Server) mapOSS(events []ossEvent) (units []ossUnit, ignored, refused []jobs.Problem) {
	seen := map[string]int{}
	for _, ev := range events {
		field := fmt.Sprintf("events[%d]", ev.index)
		skip := func(reason string) {
			p := jobs.Problem{Field: field, Reason: reason}
			if ev.bucket != "" {
				p.File = ev.object()
			}
			ignored = append(ignored, p)
		}
		change, none := ossChange(ev.name)
		switch {
		case change == "":
			skip(none)
			continue
		case !bucketName.MatchString(ev.bucket):
			refused = append(refused, jobs.Problem{Field: field, Reason: fmt.Sprintf("oss.bucket.name %q is not an OSS bucket name", clip(ev.bucket, maxEchoValue))})
			continue
		case strings.HasSuffix(ev.key, "/"):
			skip("a folder marker (the key ends with /) is served at no URL")
			continue
		}
		var refresh, push []string
		pri := jobs.PriorityLow // raised by each rule that acts
		covered, acted, bad := false, false, false
		for _, r := range s.cfg.OSSRules {
			if !r.matches(ev.bucket, ev.key) {
				continue
			}
			covered = true
			if !r.acts(change) {
				continue
			}
			u := r.render(ev.bucket, ev.key)
			if _, err := s.deps.Validator.Normalize(u, apiclient.ObjectFile); err != nil {
				refused = append(refused, jobs.Problem{Field: field, Path: u, File: ev.object(), Reason: err.Error()})
				bad = true
				continue
			}
			acted = true
			refresh = append(refresh, u)
			if change == ossCreated && r.PrefetchCreated {
				push = append(push, u)
			}
			pri = highest(pri, r.Priority)
		}
		switch {
		case bad && !acted:
			continue
		case !covered:
			skip(fmt.Sprintf("nothing to do: no rule covers bucket %s key %s", ev.bucket, clip(ev.key, maxEchoValue)))
			continue
		case !acted:
			skip(fmt.Sprintf("nothing to do: the rules covering this key do not act on %s objects", change))
			continue
		}
		u := ossUnit{ev: ev, dupOf: -1}
		u.js = append(u.js, &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: dedupe(refresh)}})
		if len(push) > 0 {
			u.js = append(u.js, &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: dedupe(push)}})
		}
		withPriority(u.js, pri)
		if id := ossIdentity(ev, change); id != "" {
			u.key = "oss:" + jobs.IDFromKey(id)
			if first, ok := seen[u.key]; ok {
				u.dupOf = first
			} else {
				seen[u.key] = len(units)
			}
		}
		units = append(units, u)
	}
	return units, ignored, refused
}

// ossAnswer is the 202 answer of the OSS hook.
type ossAnswer struct {
	Status string `json:"status"`
	// Events is the number of events in the request; Queued the events
	// stored now, Duplicates those stored by an earlier delivery.
	Events     int           `json:"events"`
	Queued     int           `json:"queued"`
	Duplicates int           `json:"duplicates"`
	Paths      int           `json:"paths"`
	Jobs       []acceptedJob `json:"jobs"`
	// Ignored lists the events that change nothing a rule covers, each
	// with its reason; Refused the malformed events and refused URLs.
	Ignored []jobs.Problem `json:"ignored,omitempty"`
	Refused []jobs.Problem `json:"refused,omitempty"`
}

// oss handles POST /hooks/oss. The token is checked before the body is
// read; the read is bounded by oss_body_limit and the buffer budget.
func (s *Server) oss(w http.ResponseWriter, r *http.Request) (int, any) {
	if herr := s.authOSS(r); herr != nil {
		return fail(herr)
	}
	mt, herr := ossMediaType(r)
	if herr != nil {
		return fail(herr)
	}
	body, release, herr := s.readBody(w, r, s.cfg.OSSBodyLimit)
	if herr != nil {
		return fail(herr)
	}
	defer release()
	events, refused, err := parseOSS(mt, body)
	if err != nil {
		return fail(refuse(http.StatusBadRequest, "bad_payload", "%v", err))
	}
	total := len(events) + len(refused)
	units, ignored, bad := s.mapOSS(events)
	refused = append(refused, bad...)
	if len(refused) > 0 {
		s.report(r, jobs.StatusEvent{State: jobs.StateInvalid, Reason: fmt.Sprintf("oss: %d of %d event(s) refused", len(refused), total), Problems: clipProblems(refused)})
	}
	if len(units) == 0 {
		if len(refused) > 0 {
			e := refuse(http.StatusUnprocessableEntity, "invalid_events", "%d event(s) refused and nothing else to queue", len(refused))
			e.body.Problems = refused
			return fail(e)
		}
		reason := "nothing to do: no event changes an object a rule covers"
		if len(ignored) == 1 {
			reason = ignored[0].Reason
			if !strings.HasPrefix(reason, "nothing to do") {
				reason = "nothing to do: " + reason
			}
		}
		return http.StatusOK, map[string]any{"status": "ignored", "reason": reason, "events": total, "ignored": clipProblems(ignored)}
	}
	acks, herr := s.storeOSS(r, units)
	if herr != nil {
		return fail(herr)
	}
	out := ossAnswer{Status: "accepted", Events: total, Ignored: clipProblems(ignored)}
	for i, u := range units {
		if acks[i].conflict != "" {
			refused = append(refused, jobs.Problem{Field: fmt.Sprintf("events[%d]", u.ev.index), File: u.ev.object(), Reason: acks[i].conflict})
			continue
		}
		dup := u.dupOf >= 0
		for k, j := range u.js {
			a := acks[i].acks[k]
			dup = dup || a.Duplicate
			if u.dupOf < 0 {
				out.Jobs = append(out.Jobs, acceptedJob{ID: a.JobID, Kind: j.Kind, Paths: len(j.Paths()), Duplicate: a.Duplicate})
			}
		}
		if dup {
			out.Duplicates++
			continue
		}
		out.Queued++
		for _, j := range u.js {
			out.Paths += len(j.Paths())
		}
	}
	out.Refused = clipProblems(refused)
	s.log.Info("oss events accepted", slog.Int("events", total), slog.Int("queued", out.Queued), slog.Int("duplicates", out.Duplicates),
		slog.Int("ignored", len(ignored)), slog.Int("refused", len(refused)), slog.Int("paths", out.Paths))
	return http.StatusAccepted, out
}

// ossStored is what storing one unit gave: the acks of its jobs, or the
// reason it was not stored because its key holds other content.
type ossStored struct {
	acks     []jobs.Ack
	conflict string
}

// storeOSS stores every unit under its own key, several at once, and
// returns only when each was acknowledged; a unit whose key holds other
// content (the rules changed since its first delivery) is reported, not
// stored again. When the queue cannot take one, the request is answered
// 503 and the sender retries it whole: what was stored is not stored
// twice.
func (s *Server) storeOSS(r *http.Request, units []ossUnit) ([]ossStored, *hookError) {
	now := s.deps.Now()
	out := make([]ossStored, len(units))
	for i := range units {
		u := &units[i]
		source := "oss:" + u.ev.bucket
		for k, j := range u.js {
			if u.key != "" {
				j.ID = jobs.IDFromKey(u.key + ":" + strconv.Itoa(k))
			}
			j.Prepare(source, now)
			if err := s.deps.Validator.Validate(j); err != nil {
				// Every URL was checked: a failure here is a bug.
				return nil, refuse(http.StatusInternalServerError, "invalid_job", "event %d: %v", u.ev.index, err)
			}
		}
	}
	// A publish that started completes even if the sender hangs up.
	ctx := context.WithoutCancel(r.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	sem := make(chan struct{}, ossPublishers)
	for i := range units {
		u := &units[i]
		if u.dupOf >= 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key := u.key
			if key == "" {
				key = "once:" + jobs.NewID()
			}
			acks, err := s.deps.Publisher.PublishSet(ctx, key, u.js)
			var ce *jobs.IdempotencyConflictError
			switch {
			case err == nil:
				out[i].acks = acks
			case errors.As(err, &ce):
				s.log.Warn("idempotency conflict", slog.String("key", key), slog.String("source", "oss:"+u.ev.bucket), slog.String("earlier_jobs", strings.Join(ce.JobIDs, ",")))
				out[i].conflict = fmt.Sprintf("this event was stored earlier with other URLs (job %s; the rules changed since); it is not queued again", strings.Join(ce.JobIDs, ", "))
			default:
				mu.Lock()
				failed = errors.Join(failed, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		s.log.Error("publish oss events", slog.Int("events", len(units)), slog.String("error", clip(failed.Error(), maxEcho)))
		return nil, refuse(http.StatusServiceUnavailable, "queue_unavailable", "the job queue cannot take the request now, nothing acknowledged; retry later (events stored meanwhile are not stored twice)")
	}
	for i, u := range units {
		if u.dupOf >= 0 {
			out[i] = out[u.dupOf]
		}
	}
	for i, u := range units {
		if u.dupOf >= 0 || out[i].conflict != "" {
			continue
		}
		for k, a := range out[i].acks {
			s.log.Debug("job accepted", slog.String("job", a.JobID), slog.String("kind", string(u.js[k].Kind)), slog.String("source", u.js[k].Source),
				slog.Int("paths", len(u.js[k].Paths())), slog.Bool("duplicate", a.Duplicate))
		}
	}
	return out, nil
}
