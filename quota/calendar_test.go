package quota

import (
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

func TestCalendar(t *testing.T) {
	sh := DefaultLocation()
	tests := []struct {
		name      string
		now       time.Time
		day, prev string
		reset     time.Time
	}{
		{"utc evening is the next shanghai day", time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC),
			"2026-03-10", "2026-03-09", time.Date(2026, 3, 11, 0, 0, 0, 0, sh)},
		{"one ns before midnight", time.Date(2026, 3, 10, 23, 59, 59, 999999999, sh),
			"2026-03-10", "2026-03-09", time.Date(2026, 3, 11, 0, 0, 0, 0, sh)},
		{"midnight itself", time.Date(2026, 3, 11, 0, 0, 0, 0, sh),
			"2026-03-11", "2026-03-10", time.Date(2026, 3, 12, 0, 0, 0, 0, sh)},
		{"year end", time.Date(2026, 12, 31, 23, 0, 0, 0, sh),
			"2026-12-31", "2026-12-30", time.Date(2027, 1, 1, 0, 0, 0, 0, sh)},
		{"new year", time.Date(2027, 1, 1, 0, 30, 0, 0, sh),
			"2027-01-01", "2026-12-31", time.Date(2027, 1, 2, 0, 0, 0, 0, sh)},
	}
	c := Calendar{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Day(tt.now); got != tt.day {
				t.Errorf("Day = %s, want %s", got, tt.day)
			}
			if got := c.PrevDay(tt.now); got != tt.prev {
				t.Errorf("PrevDay = %s, want %s", got, tt.prev)
			}
			if got := NextReset(tt.now); !got.Equal(tt.reset) {
				t.Errorf("NextReset = %v, want %v", got, tt.reset)
			}
		})
	}
	// UTC 16:00 is Shanghai midnight.
	if got := NextReset(time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("NextReset in UTC terms = %v", got.UTC())
	}
	// A configured zone moves the boundary.
	utc := Calendar{Location: time.UTC}
	if got := utc.Day(time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC)); got != "2026-03-09" {
		t.Errorf("UTC calendar day = %s", got)
	}
}

func TestKinds(t *testing.T) {
	for _, tt := range []struct {
		in   apiclient.ObjectType
		want Kind
	}{{apiclient.ObjectFile, KindURL}, {apiclient.ObjectExQuery, KindURL}, {apiclient.ObjectDirectory, KindDir}, {apiclient.ObjectRegex, KindRegex}} {
		if got := KindForRefresh(tt.in); got != tt.want {
			t.Errorf("KindForRefresh(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if KindForPush() != KindPreload {
		t.Error("push is not preload")
	}
	for _, k := range AllKinds() {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %s, %v", k, got, err)
		}
	}
	if _, err := ParseKind("file"); err == nil {
		t.Error("ParseKind accepted file")
	}
}

// AllKinds is the caller's own: changing it changes no other caller's.
func TestAllKindsIsACopy(t *testing.T) {
	t.Parallel()
	a := AllKinds()
	a[0] = "file"
	if b := AllKinds(); b[0] != KindURL || len(b) != len(allKinds) {
		t.Fatalf("AllKinds() = %v after a caller changed its copy", b)
	}
	if !KindURL.Valid() {
		t.Fatal("url is not a valid kind after a caller changed its copy")
	}
}
