package jobs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProducerIDsCannotTakeTheSchedulersPrefix(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	for _, id := range []string{"sched-night-1795618800", "SCHED-night-1", "Sched-x"} {
		j := &Job{Version: WireVersion, ID: id, Kind: KindRefresh, Refresh: &RefreshSpec{Paths: []string{"static.example.com/a.js"}}}
		err := v.Validate(j)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Problems[0].Field != "id" || !strings.Contains(err.Error(), "scheduler's") {
			t.Errorf("job ID %q: %v, want refused as the scheduler's", id, err)
		}
	}
	for _, id := range []string{"schedule-1", "my-sched-1", "sched"} {
		j := &Job{Version: WireVersion, ID: id, Kind: KindRefresh, Refresh: &RefreshSpec{Paths: []string{"static.example.com/a.js"}}}
		if err := v.Validate(j); err != nil {
			t.Errorf("job ID %q refused: %v", id, err)
		}
	}
}

func TestDecodeTick(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	b, err := EncodeTick(Tick{Schedule: "night", Tick: tick})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTick(b)
	if err != nil || got.Schedule != "night" || !got.Tick.Equal(tick) || got.Version != WireVersion {
		t.Fatalf("round trip %s = %+v, %v", b, got, err)
	}
	for in, want := range map[string]string{
		`{"schedule":"night","tick":"2026-11-25T15:00:00Z","action":"StopCdnDomain"}`:             "unknown field",
		`{"schedule":"night","tick":"2026-11-25T15:00:00Z","params":{"DomainName":"victim.org"}}`: "unknown field",
		`{"schedule":"night"}`:                                 "tick:",
		`{"tick":"2026-11-25T15:00:00Z"}`:                      "schedule:",
		`{"schedule":"a b","tick":"2026-11-25T15:00:00Z"}`:     "schedule:",
		`{"v":2,"schedule":"n","tick":"2026-11-25T15:00:00Z"}`: "version 2",
		`{"schedule":"n","tick":"2026-11-25T15:00:00Z"} {}`:    "data after",
		``: "empty message",
	} {
		if _, err := DecodeTick([]byte(in)); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeTick(%s) = %v, want %q", in, err, want)
		}
	}
}

func FuzzDecodeTick(f *testing.F) {
	f.Add([]byte(`{"v":1,"schedule":"night","tick":"2026-11-25T15:00:00Z"}`))
	f.Add([]byte(`{"schedule":"night","tick":"2026-11-25T15:00:00Z","action":"X"}`))
	f.Add([]byte(`{"schedule":"` + strings.Repeat("a", 100) + `","tick":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := DecodeTick(data)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error does not wrap ErrDecode: %v", err)
			}
			return
		}
		if !ValidToken(tk.Schedule) || tk.Tick.IsZero() || tk.Version != WireVersion {
			t.Fatalf("accepted %q as %+v", data, tk)
		}
	})
}
