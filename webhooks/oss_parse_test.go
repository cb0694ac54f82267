package webhooks

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cdnpurge/cdnpurge/jobs"
)

func TestOSSChangeOfEveryEventName(t *testing.T) {
	t.Parallel()
	// Names from EventBridge's "OSS events" page and OSS's "Event
	// notifications" page.
	for name, want := range map[string]string{
		"ObjectCreated:PutObject":               ossCreated,
		"ObjectCreated:PostObject":              ossCreated,
		"ObjectCreated:CopyObject":              ossCreated,
		"ObjectCreated:AppendObject":            ossCreated,
		"ObjectCreated:PutSymlink":              ossCreated,
		"ObjectCreated:CompleteMultipartUpload": ossCreated,
		"ObjectCreated:InitiateMultipartUpload": "",
		"ObjectCreated:UploadPart":              "",
		"ObjectCreated:UploadPartCopy":          "",
		"ObjectRemoved:DeleteObject":            ossRemoved,
		"ObjectRemoved:DeleteObjects":           ossRemoved,
		"ObjectRemoved:AbortMultipartUpload":    "",
		"ObjectReplication:ObjectCreated":       ossCreated,
		"ObjectReplication:ObjectModified":      ossCreated,
		"ObjectReplication:ObjectRemoved":       ossRemoved,
		"ObjectRestore:FinishRestore":           "",
		"ObjectDownloaded:GetObject":            "",
		"BucketCreated:PutBucket":               "",
	} {
		got, why := ossChange(name)
		if got != want || (got == "") == (why == "") {
			t.Errorf("%s: %q (%q), want %q", name, got, why, want)
		}
	}
}

func TestOSSRenderEscapesEachSegment(t *testing.T) {
	t.Parallel()
	r := OSSRule{Bucket: "b", Prefix: "public/", StripPrefix: "public/", URLTemplate: "https://static.example.com/{key}"}
	for key, want := range map[string]string{
		"public/css/site.css":         "https://static.example.com/css/site.css",
		"public/img/new logo.svg":     "https://static.example.com/img/new%20logo.svg",
		"public/a?b#c/100%.txt":       "https://static.example.com/a%3Fb%23c/100%25.txt",
		"public/中文/文件.png":            "https://static.example.com/%E4%B8%AD%E6%96%87/%E6%96%87%E4%BB%B6.png",
		"public/dir//double-slash.js": "https://static.example.com/dir//double-slash.js",
	} {
		if got := r.render("b", key); got != want {
			t.Errorf("%q: %q, want %q", key, got, want)
		}
	}
}

func TestParseOSSForms(t *testing.T) {
	t.Parallel()
	native := `{"events":[{"eventName":"ObjectCreated:PutObject","eventTime":"t","oss":{"bucket":{"name":"my-bucket"},"object":{"key":"public/a.css","eTag":"E"}}}]}`
	ce := `{"specversion":"1.0","id":"1","source":"acs.oss","type":"oss:ObjectRemoved:DeleteObject","time":"t2","data":{"oss":{"bucket":{"name":"my-bucket"},"object":{"key":"public/b.css"}}}}`
	for name, c := range map[string]struct {
		mt, body string
		events   int
		refused  int
		err      string
	}{
		"native":                 {"application/json", native, 1, 0, ""},
		"native base64":          {"application/json", base64.StdEncoding.EncodeToString([]byte(native)), 1, 0, ""},
		"structured":             {mediaCloudEvent, ce, 1, 0, ""},
		"structured as json":     {"application/json", ce, 1, 0, ""},
		"batch":                  {mediaCloudEventBatch, "[" + ce + "," + ce + "]", 2, 0, ""},
		"batch as json":          {"application/json", "[" + ce + ",{}]", 1, 1, ""},
		"batch media, one event": {mediaCloudEventBatch, ce, 0, 0, "wants a JSON array"},
		"empty":                  {"application/json", "  ", 0, 0, "empty body"},
		"events not a list":      {"application/json", `{"events":{}}`, 0, 0, "want a list"},
		"too many":               {mediaCloudEventBatch, "[" + strings.Repeat("{},", maxOSSEvents) + "{}]", 0, 0, "more than"},
	} {
		evs, refused, err := parseOSS(c.mt, []byte(c.body))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one with %q", name, err, c.err)
			}
			continue
		}
		if err != nil || len(evs) != c.events || len(refused) != c.refused {
			t.Errorf("%s: %d events %d refused %v, want %d and %d", name, len(evs), len(refused), err, c.events, c.refused)
		}
	}
	evs, _, _ := parseOSS(mediaCloudEvent, []byte(ce))
	if e := evs[0]; e.id != "1" || e.name != "ObjectRemoved:DeleteObject" || e.time != "t2" || e.object() != "my-bucket/public/b.css" {
		t.Fatalf("structured event read as %+v", e)
	}
}

// FuzzParseOSS feeds the OSS parser and mapper whatever a sender can
// send: they never panic, every event is either kept or refused once,
// and every kept object event maps only to allowed URLs built from a
// valid UTF-8 key. The seeds (the fixtures and the cases below) run as
// tests.
func FuzzParseOSS(f *testing.F) {
	for _, mt := range []string{"application/json", mediaCloudEvent, mediaCloudEventBatch} {
		addGolden(f, "oss_", func(b []byte) { f.Add(mt, b) })
	}
	f.Add("application/json", []byte(`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":"my-bucket"},"object":{"key":"public/x/"}}}]}`))
	f.Add("application/json", []byte("{\"events\":[{\"eventName\":\"ObjectCreated:PutObject\",\"oss\":{\"bucket\":{\"name\":\"my-bucket\"},\"object\":{\"key\":\"public/\xc0\xaf\"}}}]}"))
	f.Add("application/json", []byte(`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":"my-bucket"},"object":{"key":"public/\ud83d"}}}]}`))
	f.Add("application/json", []byte(`{"events":[{"eventName":"ObjectCreated:PutObject","oss":{"bucket":{"name":"my-bucket"},"object":{"key":null}}},{"eventName":5}]}`))
	f.Add(mediaCloudEventBatch, []byte(`[{"specversion":"1.0","id":"a","source":"acs.oss","type":"oss:ObjectCreated:PutObject","data":null},[],"x",{"specversion":"0.3"}]`))
	f.Add("application/json", []byte(base64.StdEncoding.EncodeToString([]byte(`{"events":[]}`))))
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "www.example.com"}})
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{cfg: ossTestConfig().WithDefaults(), deps: Deps{Validator: v}}
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		evs, refused, err := parseOSS(mt, body)
		if err != nil {
			if evs != nil || refused != nil {
				t.Fatal("events and an error together")
			}
			return
		}
		if len(evs)+len(refused) > maxOSSEvents {
			t.Fatalf("%d events kept, %d refused: over the bound", len(evs), len(refused))
		}
		seen := map[string]bool{}
		for _, p := range refused {
			seen[p.Field] = true
		}
		for _, e := range evs {
			field := fmt.Sprintf("events[%d]", e.index)
			if seen[field] {
				t.Fatalf("%s both kept and refused", field)
			}
			seen[field] = true
			if e.name == "" {
				t.Fatalf("%s kept without a name", field)
			}
			if strings.HasPrefix(e.name, "Object") && (e.bucket == "" || e.key == "" || !utf8.ValidString(e.key)) {
				t.Fatalf("%s kept with bucket %q key %q", field, e.bucket, e.key)
			}
		}
		units, ignored, bad := s.mapOSS(evs)
		if len(units)+len(ignored) > len(evs) || len(units)+len(ignored)+len(bad) < len(evs) {
			t.Fatalf("%d events gave %d units, %d ignored, %d refused", len(evs), len(units), len(ignored), len(bad))
		}
		for _, u := range units {
			for _, p := range append(u.refresh, u.push...) {
				if !strings.HasPrefix(p, "https://static.example.com/") {
					t.Fatalf("%s mapped to %q", u.ev.object(), p)
				}
			}
		}
		for _, j := range ossJobs(units) {
			if n := len(j.Paths()); n == 0 || n > maxPathsPerJob {
				t.Fatalf("job with %d paths", n)
			}
		}
	})
}
