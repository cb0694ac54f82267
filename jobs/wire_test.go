package jobs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		kind    Kind
		wantErr string
	}{
		{"refresh", `{"v":1,"id":"a1","kind":"refresh","refresh":{"paths":["https://a.example.com/x"]}}`, KindRefresh, ""},
		{"priority", `{"v":1,"kind":"refresh","priority":"high","refresh":{"paths":["https://a.example.com/x"]}}`, KindRefresh, ""},
		{"missing version reads as 1", `{"kind":"push","push":{"paths":["a.example.com/x"],"area":"overseas"}}`, KindPush, ""},
		{"operation", `{"kind":"operation","operation":{"action":"ModifyCdnService","params":{"InternetChargeType":"PayByTraffic"}}}`, KindOperation, ""},
		{"newer version", `{"v":2,"kind":"refresh","refresh":{"paths":["x"]}}`, "", "wire version 2"},
		{"unknown field", `{"kind":"refresh","refresh":{"paths":["x"],"object_typ":"Directory"}}`, "", "object_typ"},
		{"unknown kind", `{"kind":"purge","refresh":{"paths":["x"]}}`, "", "unknown kind"},
		{"missing kind", `{"refresh":{"paths":["x"]}}`, "", "missing \"kind\""},
		{"wrong section", `{"kind":"push","refresh":{"paths":["x"]}}`, "", "needs a \"push\" section"},
		{"two sections", `{"kind":"push","push":{"paths":["x"]},"refresh":{"paths":["x"]}}`, "", "must not carry a refresh section"},
		{"trailing data", `{"kind":"push","push":{"paths":["x"]}} {}`, "", "data after"},
		{"not json", `purge everything`, "", "malformed JSON"},
		{"wrong type", `{"kind":"push","push":{"paths":"x"}}`, "", "push.paths"},
		{"empty", ``, "", "empty message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Decode([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrDecode) {
					t.Fatalf("Decode error = %v, want one containing %q wrapping ErrDecode", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if j.Kind != tt.kind || j.Version != WireVersion {
				t.Fatalf("got kind %q version %d, want %q %d", j.Kind, j.Version, tt.kind, WireVersion)
			}
		})
	}
}

func TestDecodeKindDefault(t *testing.T) {
	t.Parallel()
	j, err := DecodeKind([]byte(`{"refresh":{"paths":["a.example.com/x"]}}`), KindRefresh)
	if err != nil || j.Kind != KindRefresh {
		t.Fatalf("DecodeKind = %+v, %v", j, err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	force := true
	in := &Job{ID: NewID(), Kind: KindRefresh, Source: "test", ReceivedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Refresh: &RefreshSpec{Paths: []string{"https://a.example.com/d/"}, ObjectType: "Directory", Force: &force}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode) = %v; data %s", err, b)
	}
	if out.ID != in.ID || !out.ReceivedAt.Equal(in.ReceivedAt) || *out.Refresh.Force != true || out.Version != WireVersion {
		t.Fatalf("round trip changed the job: %s", b)
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != 26 || !ValidToken(id) || seen[id] {
			t.Fatalf("NewID() = %q: want 26 unique subject-safe characters", id)
		}
		if id[:9] < prev {
			t.Fatalf("NewID not time-ordered: %q after %q", id, prev)
		}
		prev = id[:9]
		seen[id] = true
	}
	first, again := IDFromKey("github:abc"), IDFromKey("github:abc")
	if first != again || IDFromKey("a") == IDFromKey("b") {
		t.Fatal("IDFromKey must be deterministic and distinct per key")
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	s, err := NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{s.Refresh(), s.Push(), s.Op("billing"), s.Status("j1"), s.StatusAll(), s.Invalid()}
	want := []string{"cdn.purge.refresh", "cdn.purge.push", "cdn.ops.billing", "cdn.status.j1", "cdn.status.>", "cdn.status.invalid"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("subject %d = %q, want %q", i, got[i], want[i])
		}
	}
	if w := s.Work(); strings.Join(w, " ") != "cdn.purge.refresh cdn.purge.push cdn.ops.>" {
		t.Errorf("Work() = %v", w)
	}
	if s.KindOf("cdn.ops.x") != KindOperation || s.KindOf("cdn.purge.push") != KindPush || s.KindOf("cdn.other") != "" {
		t.Error("KindOf misreads subjects")
	}
	p, _ := NewSubjects("acme.cdn")
	if p.Refresh() != "acme.cdn.purge.refresh" {
		t.Errorf("prefixed Refresh() = %q", p.Refresh())
	}
	for _, bad := range []string{"cdn.*", "a..b", "cdn.>", "a b"} {
		if _, err := NewSubjects(bad); err == nil {
			t.Errorf("NewSubjects(%q) accepted a bad prefix", bad)
		}
	}
}

// FuzzDecode checks Decode never panics and what it accepts encodes and
// decodes to the same kind.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"a1","kind":"refresh","refresh":{"paths":["https://a.example.com/x"],"object_type":"Directory","force":true}}`,
		`{"kind":"push","push":{"paths":["a.example.com/x"],"area":"overseas","with_header":"{\"A\":\"b\"}","l2_preload":true}}`,
		`{"kind":"operation","operation":{"action":"ModifyCdnService","tick":"2025-01-01T00:00:00Z"}}`,
		`{"v":2}`, `[]`, `null`, `{"kind":"refresh","refresh":null}`,
		// Paths JSON decoding would rewrite to U+FFFD.
		"{\"kind\":\"refresh\",\"refresh\":{\"paths\":[\"https://a.example.com/a1/\xff\xfe\"]}}",
		`{"kind":"push","push":{"paths":["a.example.com/\udfff","a.example.com/\ud83d\ude00"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Decode(data)
		if err != nil {
			return
		}
		// What Decode accepts has no path that decoding rewrote.
		if ps := checkRawPaths(data); len(ps) > 0 {
			t.Fatalf("accepted paths that are not UTF-8: %+v", ps)
		}
		b, err := Encode(j)
		if err != nil {
			t.Fatalf("Encode after Decode: %v", err)
		}
		j2, err := Decode(b)
		if err != nil || j2.Kind != j.Kind {
			t.Fatalf("re-decode %s: %v", b, err)
		}
	})
}
