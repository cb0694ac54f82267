package jobs

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

func testValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator(ValidatorConfig{Domains: []string{"static.example.com", "*.cdn.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	long := "https://static.example.com/" + strings.Repeat("a", 1000)
	tests := []struct {
		in      string
		ot      apiclient.ObjectType
		want    string
		wantErr string
	}{
		{"https://static.example.com/a.css", apiclient.ObjectFile, "https://static.example.com/a.css", ""},
		{"  HTTP://Static.Example.COM:80/A.css#top ", apiclient.ObjectFile, "http://static.example.com/A.css", ""},
		{"static.example.com/a b.css", apiclient.ObjectFile, "https://static.example.com/a%20b.css", ""},
		{"static.example.com/é.css", apiclient.ObjectFile, "https://static.example.com/%C3%A9.css", ""},
		{"static.example.com", apiclient.ObjectFile, "https://static.example.com/", ""},
		{"static.example.com?v=1", apiclient.ObjectExQuery, "https://static.example.com/?v=1", ""},
		{"https://static.example.com:8443/x", apiclient.ObjectFile, "https://static.example.com:8443/x", ""},
		{"img.cdn.example.org/dir", apiclient.ObjectDirectory, "https://img.cdn.example.org/dir/", ""},
		{"a.b.cdn.example.org/dir/", apiclient.ObjectDirectory, "https://a.b.cdn.example.org/dir/", ""},
		{`https://static.example.com/img/.*\.jpg`, apiclient.ObjectRegex, `https://static.example.com/img/.*\.jpg`, ""},
		{"cdn.example.org/x", apiclient.ObjectFile, "", "not on the domain allowlist"},
		{"https://evil.com/x", apiclient.ObjectFile, "", "not on the domain allowlist"},
		{"https://static.example.com.evil.com/x", apiclient.ObjectFile, "", "not on the domain allowlist"},
		{"ftp://static.example.com/x", apiclient.ObjectFile, "", "scheme"},
		{"/a.css", apiclient.ObjectFile, "", "no host"},
		{"https://static.example.com/a\nb", apiclient.ObjectFile, "", "control character"},
		{"https://static.example.com/a\tb", apiclient.ObjectFile, "", "control character"},
		{"https://user:pw@static.example.com/a", apiclient.ObjectFile, "", "user info"},
		{"https://static.example.com:99999/a", apiclient.ObjectFile, "", "port"},
		{"static.example.com/d?x=1", apiclient.ObjectDirectory, "", "query"},
		{long, apiclient.ObjectFile, "", "at most 1024"},
		{"", apiclient.ObjectFile, "", "empty"},
		{"https://static.example.com/\xff", apiclient.ObjectFile, "", "UTF-8"},
	}
	for _, tt := range tests {
		got, err := v.Normalize(tt.in, tt.ot)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Normalize(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestValidateListsEveryBadPath(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	j := &Job{Version: 1, ID: "j1", Kind: KindRefresh, Refresh: &RefreshSpec{Paths: []string{
		"static.example.com/ok.css", "https://evil.com/a", "static.example.com/ok.css", "https://static.example.com/x\ny",
	}}}
	err := v.Validate(j)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want *ValidationError", err)
	}
	if len(ve.Problems) != 2 || ve.Problems[0].Field != "refresh.paths[1]" || ve.Problems[0].Path != "https://evil.com/a" || ve.Problems[1].Field != "refresh.paths[3]" {
		t.Fatalf("problems = %+v", ve.Problems)
	}
	if j.Refresh.Paths[0] != "static.example.com/ok.css" {
		t.Fatal("a refused job must be left unchanged")
	}
}

func TestValidateNormalisesInPlace(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	j := &Job{Version: 1, ID: "j1", Kind: KindRefresh, Refresh: &RefreshSpec{ObjectType: "directory", Paths: []string{"static.example.com/a", "https://static.example.com/a/"}}}
	if err := v.Validate(j); err != nil {
		t.Fatal(err)
	}
	if j.Refresh.ObjectType != "Directory" || len(j.Refresh.Paths) != 1 || j.Refresh.Paths[0] != "https://static.example.com/a/" {
		t.Fatalf("got %+v", j.Refresh)
	}
}

func TestValidateJobRules(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	yes := true
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{"regex needs one rule", Job{Kind: KindRefresh, Refresh: &RefreshSpec{ObjectType: "Regex", Paths: []string{"static.example.com/a.*", "static.example.com/b.*"}}}, "exactly one rule"},
		{"force on files", Job{Kind: KindRefresh, Refresh: &RefreshSpec{Force: &yes, Paths: []string{"static.example.com/a"}}}, "force only applies"},
		{"no paths", Job{Kind: KindRefresh, Refresh: &RefreshSpec{}}, "no paths"},
		{"bad object type", Job{Kind: KindRefresh, Refresh: &RefreshSpec{ObjectType: "Blob", Paths: []string{"static.example.com/a"}}}, "object type"},
		{"bad area", Job{Kind: KindPush, Push: &PushSpec{Area: "mars", Paths: []string{"static.example.com/a"}}}, "push.area"},
		{"bad header", Job{Kind: KindPush, Push: &PushSpec{WithHeader: "x", Paths: []string{"static.example.com/a"}}}, "push.with_header"},
		{"no action", Job{Kind: KindOperation, Operation: &OperationSpec{}}, "operation.action"},
		{"bad id", Job{ID: "a.b", Kind: KindPush, Push: &PushSpec{Paths: []string{"static.example.com/a"}}}, "id"},
		{"reserved id", Job{ID: "invalid", Kind: KindPush, Push: &PushSpec{Paths: []string{"static.example.com/a"}}}, "id"},
		{"bad priority", Job{Kind: KindRefresh, Priority: "urgent", Refresh: &RefreshSpec{Paths: []string{"static.example.com/a"}}}, "priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job
			j.Version = 1
			if j.ID == "" {
				j.ID = "j1"
			}
			err := v.Validate(&j)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewValidatorRefusesBadAllowlist(t *testing.T) {
	t.Parallel()
	for _, d := range [][]string{nil, {"*"}, {"*.com"}, {"exa mple.com"}, {"https://a.com"}} {
		if _, err := NewValidator(ValidatorConfig{Domains: d}); err == nil {
			t.Errorf("NewValidator(%q) accepted it", d)
		}
	}
}

// FuzzNormalize checks the properties every normalised path has and that
// normalising twice changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"https://static.example.com/a.css", "static.example.com/a b", "HTTP://STATIC.EXAMPLE.COM:80/x#y",
		"img.cdn.example.org/dir", "https://evil.com/", "static.example.com/\u00e9?q=1", "static.example.com/%41",
		"https://static.example.com/a\r\nb", "https://u@static.example.com/",
	} {
		for ot := range 4 {
			f.Add(s, ot)
		}
	}
	v := testValidator(f)
	types := []apiclient.ObjectType{apiclient.ObjectFile, apiclient.ObjectDirectory, apiclient.ObjectRegex, apiclient.ObjectExQuery}
	f.Fuzz(func(t *testing.T, in string, oti int) {
		ot := types[(oti%4+4)%4]
		out, err := v.Normalize(in, ot)
		if err != nil {
			return
		}
		if len(out) > apiclient.CDN().Caps.PathLength || !utf8.ValidString(out) || strings.ContainsAny(out, "\r\n\t\x00") {
			t.Fatalf("Normalize(%q) = %q: too long or has control characters", in, out)
		}
		if !v.Allowed(apiclient.PathDomain(out)) {
			t.Fatalf("Normalize(%q) = %q: domain %q not allowed", in, out, apiclient.PathDomain(out))
		}
		if ot == apiclient.ObjectDirectory && !strings.HasSuffix(out, "/") {
			t.Fatalf("directory %q does not end in /", out)
		}
		again, err := v.Normalize(out, ot)
		if err != nil || again != out {
			t.Fatalf("Normalize not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}
