package jobs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

func TestValidateTagJob(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	j, err := Decode([]byte(`{"v":1,"id":"t1","kind":"refresh","refresh":{"type":"tag","domain":"Static.Example.com","tags":["home","sku-42","home"],"force":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(j); err != nil {
		t.Fatal(err)
	}
	if j.Refresh.Domain != "static.example.com" || !slices.Equal(j.Refresh.Tags, []string{"home", "sku-42"}) {
		t.Fatalf("normalised to %q %q", j.Refresh.Domain, j.Refresh.Tags)
	}
	want := []string{"tag://static.example.com/home", "tag://static.example.com/sku-42"}
	if got := j.Paths(); !slices.Equal(got, want) {
		t.Fatalf("Paths = %q, want %q", got, want)
	}
	for _, p := range want {
		if d := apiclient.PathDomain(p); d != "static.example.com" {
			t.Errorf("PathDomain(%q) = %q", p, d)
		}
		d, tag, ok := ParseTagPath(p)
		if !ok || d != "static.example.com" || !strings.HasPrefix(p, "tag://"+d+"/"+tag) {
			t.Errorf("ParseTagPath(%q) = %q %q %v", p, d, tag, ok)
		}
	}
	if _, _, ok := ParseTagPath("https://static.example.com/a"); ok {
		t.Error("a URL parsed as a tag key")
	}
}

func TestValidateTagJobRefusals(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	long := strings.Repeat("x", MaxTagLength+1)
	tests := []struct {
		name, body, field string
	}{
		{"domain not configured", `{"type":"tag","domain":"evil.com","tags":["a"]}`, "refresh.domain"},
		{"wildcard domain", `{"type":"tag","domain":"*.cdn.example.org","tags":["a"]}`, "refresh.domain"},
		{"missing domain", `{"type":"tag","tags":["a"]}`, "refresh.domain"},
		{"no tags", `{"type":"tag","domain":"static.example.com","tags":[]}`, "refresh.tags"},
		{"comma in tag", `{"type":"tag","domain":"static.example.com","tags":["a,b"]}`, "refresh.tags[0]"},
		{"space in tag", `{"type":"tag","domain":"static.example.com","tags":["ok","a b"]}`, "refresh.tags[1]"},
		{"non-ASCII tag", `{"type":"tag","domain":"static.example.com","tags":["é"]}`, "refresh.tags[0]"},
		{"long tag", `{"type":"tag","domain":"static.example.com","tags":["` + long + `"]}`, "refresh.tags[0]"},
		{"paths beside tags", `{"type":"tag","domain":"static.example.com","tags":["a"],"paths":["static.example.com/a"]}`, "refresh.paths"},
		{"object type beside tags", `{"type":"tag","domain":"static.example.com","tags":["a"],"object_type":"Directory"}`, "refresh.object_type"},
		{"unknown type", `{"type":"tags","domain":"static.example.com","tags":["a"]}`, "refresh.type"},
		{"tags without type", `{"domain":"static.example.com","tags":["a"],"paths":["static.example.com/a"]}`, "refresh.type"},
		{"host matched only by a wildcard", `{"type":"tag","domain":"img.cdn.example.org","tags":["a"]}`, "refresh.domain"},
		{"empty tag", `{"type":"tag","domain":"static.example.com","tags":[""]}`, "refresh.tags[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j, err := Decode([]byte(`{"v":1,"id":"t1","kind":"refresh","refresh":` + tc.body + `}`))
			if err != nil {
				t.Fatal(err)
			}
			err = v.Validate(j)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			var fields []string
			for _, p := range ve.Problems {
				fields = append(fields, p.Field)
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("problems %q, want one at %s", fields, tc.field)
			}
		})
	}
}
