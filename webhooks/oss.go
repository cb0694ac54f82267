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
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// ossPublishers bounds the events of one request stored at once.
const ossPublishers = 16

// headerName matches an HTTP header name of the usual form.
var headerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

func validHeaderName(h string) bool { return headerName.MatchString(h) }

// ossBucketName matches OSS bucket names (lower-case letters, digits and
// hyphens, 3 to 63 characters; OSS's "Bucket naming conventions"): the
// name is the only text of an event that reaches a job's source.
var ossBucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

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

// ossUnit is what one event asks for: the URLs to refresh and prefetch,
// at the highest priority of the rules that map it.
type ossUnit struct {
	ev            ossEvent
	refresh, push []string
	pri           jobs.Priority
	// key is the event's identity in the OSSSeen store; "" when it has
	// none (never deduplicated).
	key string
}

// ossIdentity is what makes two deliveries one change: the kind of
// change, the object, its ETag and the time OSS gives the event. The time
// tells a redelivery from a later write of the same content after another
// one (A, B, A again must refresh three times). An event with neither
// time nor id is not deduplicated.
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
		case !ossBucketName.MatchString(ev.bucket):
			refused = append(refused, jobs.Problem{Field: field, Reason: fmt.Sprintf("oss.bucket.name %q is not an OSS bucket name", clip(ev.bucket, maxEchoValue))})
			continue
		case strings.HasSuffix(ev.key, "/"):
			skip("a folder marker (the key ends with /) is served at no URL")
			continue
		}
		u := ossUnit{ev: ev, pri: jobs.PriorityLow} // raised by each rule that acts
		covered, bad := false, false
		for _, r := range s.cfg.OSSRules {
			if !r.matches(ev.bucket, ev.key) {
				continue
			}
			covered = true
			if !r.acts(change) {
				continue
			}
			url := r.render(ev.bucket, ev.key)
			if _, err := s.deps.Validator.Normalize(url, apiclient.ObjectFile); err != nil {
				refused = append(refused, jobs.Problem{Field: field, Path: url, File: ev.object(), Reason: err.Error()})
				bad = true
				continue
			}
			u.refresh = append(u.refresh, url)
			if change == ossCreated && r.PrefetchCreated {
				u.push = append(u.push, url)
			}
			u.pri = highest(u.pri, r.Priority)
		}
		switch {
		case len(u.refresh) > 0:
		case bad:
			continue
		case !covered:
			skip(fmt.Sprintf("nothing to do: no rule covers bucket %s key %s", ev.bucket, clip(ev.key, maxEchoValue)))
			continue
		default:
			skip(fmt.Sprintf("nothing to do: the rules covering this key do not act on %s objects", change))
			continue
		}
		if id := ossIdentity(ev, change); id != "" {
			u.key = jobs.IDFromKey(id)
		}
		units = append(units, u)
	}
	return units, ignored, refused
}

// ossAnswer is the 202 answer of the OSS hook.
type ossAnswer struct {
	Status string `json:"status"`
	// Events is the number of events in the request; Queued the events
	// stored now, Duplicates those stored by an earlier delivery (or
	// twice in this one).
	Events     int `json:"events"`
	Queued     int `json:"queued"`
	Duplicates int `json:"duplicates"`
	Paths      int `json:"paths"`
	// Jobs are the jobs stored now; Earlier the jobs that hold the
	// duplicates.
	Jobs    []acceptedJob `json:"jobs"`
	Earlier []string      `json:"earlier_jobs,omitempty"`
	// Ignored lists the events that change nothing a rule covers, each
	// with its reason; Refused the malformed events and refused URLs.
	Ignored []jobs.Problem `json:"ignored,omitempty"`
	Refused []jobs.Problem `json:"refused,omitempty"`
}

func (ossAnswer) status() int                            { return http.StatusAccepted }
func (ossAnswer) logAnswer(*slog.Logger, string, string) {}

// ossIgnored answers a request none of whose events needs a job (200).
type ossIgnored struct {
	Events  int            `json:"events"`
	Ignored []jobs.Problem `json:"ignored"`
	Reason  string         `json:"reason"`
	Status  string         `json:"status"`
}

func (ossIgnored) status() int                            { return http.StatusOK }
func (ossIgnored) logAnswer(*slog.Logger, string, string) {}

// oss handles POST /hooks/oss. The token is checked before the body is
// read; the read is bounded by oss_body_limit and the buffer budget.
func (s *Server) oss(w http.ResponseWriter, r *http.Request) result {
	if herr := s.authOSS(r); herr != nil {
		return herr
	}
	mt, herr := ossMediaType(r)
	if herr != nil {
		return herr
	}
	body, release, herr := s.readBody(w, r, s.cfg.OSSBodyLimit)
	if herr != nil {
		return herr
	}
	defer release()
	events, refused, err := parseOSS(mt, body)
	if err != nil {
		return refuse(http.StatusBadRequest, "bad_payload", "%v", err)
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
			return e
		}
		reason := "nothing to do: no event changes an object a rule covers"
		if len(ignored) == 1 {
			reason = ignored[0].Reason
			if !strings.HasPrefix(reason, "nothing to do") {
				reason = "nothing to do: " + reason
			}
		}
		return ossIgnored{Events: total, Ignored: clipProblems(ignored), Reason: reason, Status: "ignored"}
	}
	fresh, revs, earlier, dups, herr := s.claimOSS(context.WithoutCancel(r.Context()), units)
	if herr != nil {
		w.Header().Set("Retry-After", "1")
		return herr
	}
	out := ossAnswer{Status: "accepted", Events: total, Queued: len(fresh), Duplicates: dups, Jobs: []acceptedJob{},
		Earlier: earlier, Ignored: clipProblems(ignored), Refused: clipProblems(refused)}
	if len(fresh) > 0 {
		stored, herr := s.storeOSS(r, fresh, revs)
		if herr != nil {
			return herr
		}
		for _, sj := range stored {
			n := len(sj.job.Paths())
			out.Jobs = append(out.Jobs, acceptedJob{ID: sj.ack.JobID, Kind: sj.job.Kind, Paths: n, Duplicate: sj.ack.Duplicate})
			out.Paths += n
		}
	}
	s.log.Info("oss events accepted", slog.Int("events", total), slog.Int("queued", out.Queued), slog.Int("duplicates", out.Duplicates),
		slog.Int("ignored", len(ignored)), slog.Int("refused", len(refused)), slog.Int("paths", out.Paths), slog.Int("jobs", len(out.Jobs)))
	return out
}

// eachUnit runs fn on every unit, ossPublishers at once, and returns the
// errors joined.
func eachUnit(units []ossUnit, fn func(i int, u ossUnit) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs error
	sem := make(chan struct{}, ossPublishers)
	for i, u := range units {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i, u); err != nil {
				mu.Lock()
				errs = errors.Join(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// claimOSS claims every unit's event for this delivery. It returns the
// units this delivery stores (their claims in revs), the jobs that hold
// the others (stored by an earlier delivery, or twice in this request)
// and how many those were. When another delivery is storing one of the
// events right now, or the claims cannot be made, every claim is given
// back and the request is answered 503: nothing is lost (the other
// delivery's sender retries if it fails) and nothing stored twice.
func (s *Server) claimOSS(ctx context.Context, units []ossUnit) (fresh []ossUnit, revs []uint64, earlier []string, dups int, herr *hookError) {
	inRequest := map[string]bool{}
	var claim []ossUnit
	for _, u := range units {
		switch {
		case u.key == "":
			fresh = append(fresh, u)
			revs = append(revs, 0)
		case inRequest[u.key]:
			dups++
		default:
			inRequest[u.key] = true
			claim = append(claim, u)
		}
	}
	claims := make([]OSSClaim, len(claim))
	err := eachUnit(claim, func(i int, u ossUnit) error {
		var err error
		claims[i], err = s.deps.OSSSeen.Claim(ctx, u.key)
		return err
	})
	busy := 0
	for i, u := range claim {
		switch c := claims[i]; {
		case c.Fresh:
			fresh = append(fresh, u)
			revs = append(revs, c.Rev)
		case c.Busy:
			busy++
		default:
			dups++
			for _, id := range c.Jobs {
				if !slices.Contains(earlier, id) {
					earlier = append(earlier, id)
				}
			}
		}
	}
	if err == nil && busy == 0 {
		return fresh, revs, earlier, dups, nil
	}
	s.releaseOSS(fresh, revs)
	if err != nil {
		s.log.Error("claim oss events", slog.String("error", clip(err.Error(), maxEcho)))
		return nil, nil, nil, 0, refuse(http.StatusServiceUnavailable, "queue_unavailable", "the events cannot be checked for redeliveries now, nothing acknowledged; retry later")
	}
	return nil, nil, nil, 0, refuse(http.StatusServiceUnavailable, "busy", "%d event(s) of the request are being stored by another delivery now; nothing acknowledged, retry shortly", busy)
}

// releaseOSS gives back the claims of units whose events were not stored.
func (s *Server) releaseOSS(units []ossUnit, revs []uint64) {
	ctx := context.Background()
	if err := eachUnit(units, func(i int, u ossUnit) error {
		if u.key == "" {
			return nil
		}
		return s.deps.OSSSeen.Release(ctx, u.key, revs[i])
	}); err != nil {
		s.log.Warn("release oss events", slog.String("error", clip(err.Error(), maxEcho)))
	}
}

// ossJobs gathers the URLs of units into as few jobs as the per-job limit
// and their priorities allow: a burst becomes a few large jobs, which the
// worker can collapse into directory refreshes (worker.collapse).
func ossJobs(units []ossUnit) []*jobs.Job {
	var out []*jobs.Job
	for _, pri := range []jobs.Priority{jobs.PriorityHigh, jobs.PriorityNormal, jobs.PriorityLow} {
		var refresh, push []string
		for _, u := range units {
			if u.pri.Rank() == pri.Rank() {
				refresh = append(refresh, u.refresh...)
				push = append(push, u.push...)
			}
		}
		var js []*jobs.Job
		for _, chunk := range chunks(jobs.Distinct(refresh)) {
			js = append(js, &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: chunk}})
		}
		for _, chunk := range chunks(jobs.Distinct(push)) {
			js = append(js, &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: chunk}})
		}
		withPriority(js, pri)
		out = append(out, js...)
	}
	return out
}

// ossSource names the buckets of units for the jobs' source.
func ossSource(units []ossUnit) string {
	buckets := map[string]bool{}
	for _, u := range units {
		buckets[u.ev.bucket] = true
	}
	if len(buckets) == 1 {
		return "oss:" + units[0].ev.bucket
	}
	return fmt.Sprintf("oss:%s+%d", units[0].ev.bucket, len(buckets)-1)
}

// storeOSS stores the jobs of the fresh units under one key bound to the
// events (a retry of the same request stores nothing twice), then marks
// each event as stored. It answers only when the queue acknowledged every
// job; when it cannot take them, the request is answered 503 and nothing
// is marked, so the sender's retry stores them.
func (s *Server) storeOSS(r *http.Request, units []ossUnit, revs []uint64) ([]storedJob, *hookError) {
	keys := make([]string, 0, len(units))
	for _, u := range units {
		keys = append(keys, u.key)
	}
	slices.Sort(keys)
	key := "oss:" + jobs.IDFromKey(strings.Join(keys, ","))
	if slices.Contains(keys, "") {
		key = "once:" + jobs.NewID()
	}
	js := ossJobs(units)
	now, source := s.deps.Now(), ossSource(units)
	for i, j := range js {
		j.ID = jobs.IDFromKey(key + ":" + strconv.Itoa(i))
		j.Prepare(source, now)
		if err := s.deps.Validator.Validate(j); err != nil {
			// Every URL was checked when mapped: this is a bug.
			s.log.Error("oss job invalid", slog.String("error", clip(err.Error(), maxEcho)))
			s.releaseOSS(units, revs)
			return nil, refuse(http.StatusInternalServerError, "invalid_job", "a job built from the events does not validate; nothing was queued")
		}
	}
	// A publish that started completes even if the sender hangs up.
	ctx := context.WithoutCancel(r.Context())
	res := publishJobs(ctx, s.deps.Publisher, key, js)
	var ce *queue.IdempotencyConflictError
	if errors.As(res.err, &ce) {
		// The same events were stored before with other URLs (the rules
		// changed): store them as they map now.
		s.log.Warn("idempotency conflict", slog.String("key", key), slog.String("source", source), slog.String("earlier_jobs", strings.Join(ce.JobIDs, ",")))
		key = "once:" + jobs.NewID()
		for i, j := range js {
			j.ID = jobs.IDFromKey(key + ":" + strconv.Itoa(i))
		}
		res = publishJobs(ctx, s.deps.Publisher, key, js)
	}
	if res.err != nil {
		s.log.Error("publish oss events", slog.String("source", source), slog.Int("stored", len(res.stored)), slog.Int("jobs", len(js)), slog.String("error", clip(res.err.Error(), maxEcho)))
		s.releaseOSS(units, revs)
		return nil, refuse(http.StatusServiceUnavailable, "queue_unavailable", "the job queue cannot take the request now, nothing acknowledged; retry later (what was stored is not stored twice)")
	}
	ids := make([]string, len(res.stored))
	for i, sj := range res.stored {
		ids[i] = sj.ack.JobID
		s.log.Info("job accepted", slog.String("job", sj.ack.JobID), slog.String("kind", string(sj.job.Kind)), slog.String("source", source),
			slog.Int("paths", len(sj.job.Paths())), slog.Bool("duplicate", sj.ack.Duplicate))
	}
	// A claim not marked done is taken over by a redelivery once stale:
	// it costs a refresh, the answer stands.
	if err := eachUnit(units, func(i int, u ossUnit) error {
		if u.key == "" {
			return nil
		}
		return s.deps.OSSSeen.Done(ctx, u.key, revs[i], ids)
	}); err != nil {
		s.log.Warn("remember oss events", slog.String("error", clip(err.Error(), maxEcho)))
	}
	return res.stored, nil
}
