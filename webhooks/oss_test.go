package webhooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// The fixtures follow Alibaba Cloud's published samples:
//   - testdata/oss_cloudevent_put.json and oss_cloudevent_batch.json: the
//     CloudEvents envelope of EventBridge's "Event transformation" and
//     "Event patterns" pages (id, source acs.oss, specversion, type,
//     subject, time, aliyun* extensions) around the OSS data of the
//     "OSS events" page of the EventBridge user guide;
//   - testdata/oss_native_put.json: the {"events":[...]} body of Function
//     Compute's "OSS triggers" / "Overview of OSS event triggers" page
//     (the format of OSS's "Event notifications").
// The batch holds, in order: PutObject public/js/app.js, DeleteObject
// "public/img/old logo.png", InitiateMultipartUpload, UploadPart and
// CompleteMultipartUpload of public/video/intro.mp4, PutObject
// private/report.csv (outside the rule's prefix) and a PutObject without
// a key (malformed).

const testOSSToken = "oss-token-0123456789"

func ossTestConfig() Config {
	c := testConfig()
	c.OSSToken = testOSSToken
	c.OSSRules = []OSSRule{{Name: "static", Bucket: "my-bucket", Prefix: "public/", StripPrefix: "public/", URLTemplate: "https://static.example.com/{key}"}}
	return c
}

func ossBearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + testOSSToken}
}

func ossCE(ct string) map[string]string {
	h := ossBearer()
	h["Content-Type"] = ct
	return h
}

// storedPaths returns the refresh paths of every stored job, in order.
func storedPaths(tb testing.TB, f *fixture) []string {
	tb.Helper()
	var out []string
	for _, j := range f.stored(tb) {
		if j.Refresh != nil {
			out = append(out, j.Refresh.Paths...)
		}
	}
	return out
}

func TestOSSPutObjectRefreshesItsURLOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ossTestConfig())
	body := golden(t, "oss_cloudevent_put.json")
	a := f.post(t, "/hooks/oss", ossCE(mediaCloudEvent), body)
	if a.status != http.StatusAccepted || a.body["queued"] != float64(1) || a.body["paths"] != float64(1) {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	got := f.stored(t)
	if len(got) != 1 || got[0].Kind != jobs.KindRefresh || !slices.Equal(got[0].Refresh.Paths, []string{"https://static.example.com/css/site.css"}) {
		t.Fatalf("stored %+v, want one refresh of https://static.example.com/css/site.css", got)
	}
	if got[0].Source != "oss:my-bucket" || !strings.Contains(a.raw, got[0].ID) {
		t.Fatalf("source %q, answer %s does not name job %s", got[0].Source, a.raw, got[0].ID)
	}

	// EventBridge delivers at least once: the same event again.
	again := f.post(t, "/hooks/oss", ossCE(mediaCloudEvent), body)
	if again.status != http.StatusAccepted || again.body["duplicates"] != float64(1) || again.body["queued"] != float64(0) || !strings.Contains(again.raw, got[0].ID) {
		t.Fatalf("redelivery answered %d %s", again.status, again.raw)
	}
	// The same change under another id, and through OSS's own body (the
	// same object, ETag and event time): nothing more either.
	otherID := bytes.Replace(body, []byte("5d6fb57f0001"), []byte("5d6fb57f9999"), 1)
	if a := f.post(t, "/hooks/oss", ossCE("application/json"), otherID); a.status != http.StatusAccepted || a.body["duplicates"] != float64(1) {
		t.Fatalf("same change, other id: %d %s", a.status, a.raw)
	}
	if a := f.post(t, "/hooks/oss", ossBearer(), golden(t, "oss_native_put.json")); a.status != http.StatusAccepted || a.body["duplicates"] != float64(1) {
		t.Fatalf("same change, native body: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 1 {
		t.Fatalf("redeliveries stored %d jobs, want 1", n)
	}
	c := f.counter(t, "cdnpurge_webhook_requests_total", "202", "oss")
	if c != 4 {
		t.Fatalf(`cdnpurge_webhook_requests_total{hook="oss",code="202"} = %v, want 4`, c)
	}
}

func TestOSSNativeBodyRefreshes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ossTestConfig())
	a := f.post(t, "/hooks/oss", ossBearer(), golden(t, "oss_native_put.json"))
	if a.status != http.StatusAccepted || a.body["queued"] != float64(1) {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	if got := storedPaths(t, f); !slices.Equal(got, []string{"https://static.example.com/css/site.css"}) {
		t.Fatalf("stored %q", got)
	}
}

func TestOSSBatchKeepsTheGoodEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ossTestConfig())
	a := f.post(t, "/hooks/oss", ossCE(mediaCloudEventBatch), golden(t, "oss_cloudevent_batch.json"))
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	want := []string{
		"https://static.example.com/js/app.js",
		"https://static.example.com/img/old%20logo.png", // delete refreshes; key escaped per segment
		"https://static.example.com/video/intro.mp4",    // CompleteMultipartUpload only
	}
	got := storedPaths(t, f)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	var ans ossAnswer
	if err := json.Unmarshal([]byte(a.raw), &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Events != 7 || ans.Queued != 3 || len(ans.Ignored) != 3 || len(ans.Refused) != 1 {
		t.Fatalf("answer %s: want 7 events, 3 queued, 3 ignored, 1 refused", a.raw)
	}
	if r := ans.Refused[0]; r.Field != "events[6]" || !strings.Contains(r.Reason, "oss.object.key missing") {
		t.Fatalf("refused %+v, want events[6] without a key", r)
	}
	for i, want := range map[int]string{0: "multipart", 1: "multipart", 2: "no rule covers"} {
		if !strings.Contains(ans.Ignored[i].Reason, want) {
			t.Errorf("ignored[%d] = %+v, want a reason with %q", i, ans.Ignored[i], want)
		}
	}
}

func TestOSSOutsideEveryRuleIsNothingToDo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ossTestConfig())
	body := golden(t, "oss_cloudevent_put.json")
	for name, b := range map[string][]byte{
		"key outside the prefix": bytes.ReplaceAll(body, []byte(`"key": "public/css/site.css"`), []byte(`"key": "private/site.css"`)),
		"bucket without a rule":  bytes.ReplaceAll(body, []byte(`"name": "my-bucket"`), []byte(`"name": "other-bucket"`)),
		"not an object event":    bytes.ReplaceAll(body, []byte(`ObjectCreated:PutObject`), []byte(`ObjectDownloaded:GetObject`)),
		"upload part":            bytes.ReplaceAll(body, []byte(`ObjectCreated:PutObject`), []byte(`ObjectCreated:UploadPart`)),
	} {
		a := f.post(t, "/hooks/oss", ossCE(mediaCloudEvent), b)
		if a.status != http.StatusOK || a.body["status"] != "ignored" || !strings.Contains(a.raw, "nothing to do") {
			t.Errorf("%s: %d %s, want 200 nothing to do", name, a.status, a.raw)
		}
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("stored %d jobs for events no rule covers", n)
	}
}

func TestOSSMalformedAloneIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ossTestConfig())
	for name, c := range map[string]struct {
		body   string
		status int
	}{
		"not JSON":        {`{"events": [`, http.StatusBadRequest},
		"neither form":    {`{"hello": "world"}`, http.StatusBadRequest},
		"wrong source":    {`{"specversion":"1.0","id":"x","source":"acs.ecs","type":"oss:ObjectCreated:PutObject","data":{}}`, http.StatusUnprocessableEntity},
		"no key":          {`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":"my-bucket"},"object":{}}}]}`, http.StatusUnprocessableEntity},
		"bad bucket name": {`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":"My Bucket\n"},"object":{"key":"a"}}}]}`, http.StatusUnprocessableEntity},
		"batch not array": {`{"specversion":"1.0"}`, http.StatusBadRequest},
		"key not UTF-8":   {"{\"events\":[{\"eventName\":\"ObjectCreated:PutObject\",\"oss\":{\"bucket\":{\"name\":\"my-bucket\"},\"object\":{\"key\":\"public/\xff.css\"}}}]}", http.StatusUnprocessableEntity},
		"URL too long":    {`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":"my-bucket"},"object":{"key":"public/` + strings.Repeat("a", 1100) + `"}}}]}`, http.StatusUnprocessableEntity},
	} {
		ct := "application/json"
		if name == "batch not array" {
			ct = mediaCloudEventBatch
		}
		a := f.post(t, "/hooks/oss", ossCE(ct), []byte(c.body))
		if a.status != c.status || a.body["error"] == nil {
			t.Errorf("%s: %d %s, want %d with an error", name, a.status, a.raw, c.status)
		}
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("stored %d jobs from malformed events", n)
	}
}

func TestOSSCredentials(t *testing.T) {
	t.Parallel()
	cfg := ossTestConfig()
	cfg.OSSAPIKeyHeader = "X-Api-Key"
	f := newFixture(t, cfg)
	body := golden(t, "oss_cloudevent_put.json")
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for name, c := range map[string]struct {
		hdr    map[string]string
		status int
	}{
		"wrong bearer":       {map[string]string{"Authorization": "Bearer not-the-token-000000"}, http.StatusUnauthorized},
		"none":               {map[string]string{}, http.StatusUnauthorized},
		"wrong basic":        {map[string]string{"Authorization": basic("eventbridge", "nope-nope-nope-nope")}, http.StatusUnauthorized},
		"garbage basic":      {map[string]string{"Authorization": "Basic !!!"}, http.StatusUnauthorized},
		"other scheme":       {map[string]string{"Authorization": "Token " + testOSSToken}, http.StatusUnauthorized},
		"wrong API key":      {map[string]string{"X-Api-Key": "not-the-token-000000", "Authorization": "Bearer " + testOSSToken}, http.StatusUnauthorized},
		"bearer":             {ossBearer(), http.StatusAccepted},
		"basic":              {map[string]string{"Authorization": basic("eventbridge", testOSSToken)}, http.StatusAccepted},
		"API key header":     {map[string]string{"X-Api-Key": testOSSToken}, http.StatusAccepted},
		"API key lower-case": {map[string]string{"x-api-key": testOSSToken}, http.StatusAccepted},
	} {
		a := f.post(t, "/hooks/oss", c.hdr, body)
		if a.status != c.status {
			t.Errorf("%s: %d %s, want %d", name, a.status, a.raw, c.status)
		}
		if strings.Contains(a.raw, testOSSToken) {
			t.Errorf("%s: answer echoes the token: %s", name, a.raw)
		}
	}
}

// A request without the token is answered before its body is read: a
// declared size over the limit, or a body that never comes, gets 401.
func TestOSSAuthenticatesBeforeReading(t *testing.T) {
	t.Parallel()
	cfg := ossTestConfig()
	cfg.OSSBodyLimit = 1024
	f := newFixture(t, cfg)
	big := bytes.Repeat([]byte(" "), 4096)
	if a := f.post(t, "/hooks/oss", map[string]string{"Authorization": "Bearer wrong-token-00000000"}, big); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong token with a large body: %d %s, want 401", a.status, a.raw)
	}
	if a := f.post(t, "/hooks/oss", ossBearer(), big); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d %s, want 413", a.status, a.raw)
	}
	if a := f.post(t, "/hooks/oss", ossCE("text/plain"), []byte("{}")); a.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d %s, want 415", a.status, a.raw)
	}
}

func TestOSSDisabledWithoutToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	a := f.post(t, "/hooks/oss", ossBearer(), golden(t, "oss_cloudevent_put.json"))
	if a.status != http.StatusNotFound || !strings.Contains(a.raw, "webhooks.oss_token") {
		t.Fatalf("disabled hook: %d %s", a.status, a.raw)
	}
}

// A write of content A, then B, then A again inside the duplicate window
// must refresh each time: the ETag alone would call the third a
// redelivery and leave B in the cache.
func TestOSSRewriteOfEarlierContentRefreshesAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ossTestConfig())
	body := golden(t, "oss_cloudevent_put.json")
	for i, v := range []struct{ etag, at string }{{"AAAA", "08:30:00"}, {"BBBB", "08:30:05"}, {"AAAA", "08:30:09"}} {
		b := bytes.ReplaceAll(body, []byte("5B3C1A2F4E6D8C0B9A7F3E1D2C4B6A80"), []byte(v.etag))
		b = bytes.ReplaceAll(b, []byte("08:30:00.000Z"), []byte(v.at+".000Z"))
		b = bytes.Replace(b, []byte("5d6fb57f0001"), []byte("5d6fb57f000"+string(rune('a'+i))), 1)
		if a := f.post(t, "/hooks/oss", ossBearer(), b); a.status != http.StatusAccepted || a.body["queued"] != float64(1) {
			t.Fatalf("write %d: %d %s", i, a.status, a.raw)
		}
	}
	if n := len(f.stored(t)); n != 3 {
		t.Fatalf("stored %d jobs for three writes, want 3", n)
	}
}

func TestOSSRuleOptions(t *testing.T) {
	t.Parallel()
	cfg := ossTestConfig()
	cfg.OSSRules = []OSSRule{
		{Name: "assets", Bucket: "my-*", Prefix: "public/", StripPrefix: "public/", URLTemplate: "https://static.example.com/{bucket}/{key}", PrefetchCreated: true, Priority: jobs.PriorityHigh},
		{Name: "deletes-only", Bucket: "my-bucket", Prefix: "public/css/", URLTemplate: "https://www.example.com/{key}", On: []string{"removed"}},
	}
	f := newFixture(t, cfg)
	a := f.post(t, "/hooks/oss", ossBearer(), golden(t, "oss_cloudevent_put.json"))
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	got := f.stored(t)
	u := "https://static.example.com/my-bucket/css/site.css"
	if len(got) != 2 || !slices.Equal(got[0].Refresh.Paths, []string{u}) || got[1].Push == nil || !slices.Equal(got[1].Push.Paths, []string{u}) {
		t.Fatalf("stored %+v, want a refresh then a prefetch of %s", got, u)
	}
	if got[0].Priority != jobs.PriorityHigh || got[1].Priority != jobs.PriorityHigh {
		t.Fatalf("priorities %q %q, want high", got[0].Priority, got[1].Priority)
	}
	del := bytes.ReplaceAll(golden(t, "oss_cloudevent_put.json"), []byte("ObjectCreated:PutObject"), []byte("ObjectRemoved:DeleteObject"))
	if a := f.post(t, "/hooks/oss", ossBearer(), del); a.status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	got = f.stored(t)
	if len(got) != 3 || !slices.Equal(got[2].Refresh.Paths, []string{u, "https://www.example.com/public/css/site.css"}) {
		t.Fatalf("delete stored %+v, want one refresh of both rules' URLs and no prefetch", got[2:])
	}
}

func TestOSSConfigValidation(t *testing.T) {
	t.Parallel()
	c := Config{OSSToken: "short", OSSAPIKeyHeader: "X Api", OSSRules: []OSSRule{
		{URLTemplate: "https://{bucket}.example.com/{key}"},
		{Bucket: "b[", Prefix: "a/", StripPrefix: "b/", URLTemplate: "https://static.example.com/{path}", On: []string{"updated"}, PrefetchCreated: false, Priority: "urgent"},
		{Bucket: "b", URLTemplate: "https://static.example.com/{key}", On: []string{"removed"}, PrefetchCreated: true},
	}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"oss_token: shorter than 16",
		"oss_api_key_header:",
		"oss_rules[0].bucket: empty",
		"oss_rules[0].url_template:", // host not fixed
		"oss_rules[1].bucket: glob",
		"oss_rules[1].strip_prefix:",
		"oss_rules[1].url_template:", // {path} is not an OSS placeholder
		"oss_rules[1].on[0]:",
		"oss_rules[1].priority:",
		"oss_rules[2].prefetch_created:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	v, verr := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com"}})
	if verr != nil {
		t.Fatal(verr)
	}
	rules := []OSSRule{{Bucket: "b", URLTemplate: "https://static.example.com/{key}"}, {Bucket: "b", URLTemplate: "https://evil.example.net/{key}"}}
	err = CheckOSSRuleURLs(rules, v)
	if err == nil || !strings.Contains(err.Error(), "oss_rules[1].url_template") || strings.Contains(err.Error(), "oss_rules[0]") {
		t.Fatalf("allowlist check: %v", err)
	}
}

// ossBatch builds a batch of PutObject events for public/burst/<i>.js,
// i in [from, to).
func ossBatch(t *testing.T, from, to int) []byte {
	t.Helper()
	var ce map[string]any
	if err := json.Unmarshal(golden(t, "oss_cloudevent_put.json"), &ce); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i := from; i < to; i++ {
		b, _ := json.Marshal(ce)
		var e map[string]any
		_ = json.Unmarshal(b, &e)
		e["id"] = fmt.Sprintf("burst-%d", i)
		o := e["data"].(map[string]any)["oss"].(map[string]any)["object"].(map[string]any)
		o["key"] = fmt.Sprintf("public/burst/%d.js", i)
		out = append(out, e)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A burst in one request is one job (which the worker may collapse into a
// directory refresh); a redelivery in another batch stores only what is
// new in it.
func TestOSSBurstIsOneJobAndRedeliveriesCostNothing(t *testing.T) {
	t.Parallel()
	f := newNATSFixture(t, ossTestConfig())
	a := f.post(t, "/hooks/oss", ossCE(mediaCloudEventBatch), ossBatch(t, 0, 50))
	if a.status != http.StatusAccepted || a.body["queued"] != float64(50) || a.body["paths"] != float64(50) {
		t.Fatalf("burst: %d %s", a.status, a.raw)
	}
	got := f.stored(t)
	if len(got) != 1 || len(got[0].Refresh.Paths) != 50 {
		t.Fatalf("burst stored %d jobs, want one of 50 paths", len(got))
	}
	// Events 25..49 again, in a batch with 25 new ones.
	a = f.post(t, "/hooks/oss", ossCE(mediaCloudEventBatch), ossBatch(t, 25, 75))
	if a.status != http.StatusAccepted || a.body["queued"] != float64(25) || a.body["duplicates"] != float64(25) || !strings.Contains(a.raw, got[0].ID) {
		t.Fatalf("mixed redelivery: %d %s", a.status, a.raw)
	}
	got = f.stored(t)
	if len(got) != 2 || len(got[1].Refresh.Paths) != 25 || !slices.Contains(got[1].Refresh.Paths, "https://static.example.com/burst/74.js") || slices.Contains(got[1].Refresh.Paths, "https://static.example.com/burst/25.js") {
		t.Fatalf("mixed redelivery stored %+v", got[1:])
	}
	// The whole second request again: nothing new.
	if a := f.post(t, "/hooks/oss", ossCE(mediaCloudEventBatch), ossBatch(t, 25, 75)); a.status != http.StatusAccepted || a.body["duplicates"] != float64(50) {
		t.Fatalf("second request again: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 2 {
		t.Fatalf("redelivery stored jobs: %d", n)
	}
}

// An event the queue could not take is answered 503 and not remembered:
// EventBridge's retry stores it, once.
func TestOSSNotStoredIsNotRemembered(t *testing.T) {
	t.Parallel()
	var fp *failingPublisher
	f := newFixtureWith(t, ossTestConfig(), func(d *Deps) {
		fp = &failingPublisher{next: d.Publisher}
		fp.down.Store(true)
		d.Publisher = fp
	})
	body := golden(t, "oss_cloudevent_put.json")
	if a := f.post(t, "/hooks/oss", ossBearer(), body); a.status != http.StatusServiceUnavailable {
		t.Fatalf("queue down: %d %s", a.status, a.raw)
	}
	fp.down.Store(false)
	if a := f.post(t, "/hooks/oss", ossBearer(), body); a.status != http.StatusAccepted || a.body["queued"] != float64(1) {
		t.Fatalf("the retry once the queue is back: %d %s", a.status, a.raw)
	}
	if a := f.post(t, "/hooks/oss", ossBearer(), body); a.status != http.StatusAccepted || a.body["duplicates"] != float64(1) {
		t.Fatalf("then a redelivery: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 1 {
		t.Fatalf("stored %d jobs, want 1", n)
	}
}
