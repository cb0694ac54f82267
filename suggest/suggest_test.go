package suggest

import "testing"

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"linger", "lnger", 1}, {"kitten", "sitting", 3}, {"qouta", "quota", 2}} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	fields := []string{"linger", "ack_wait", "quota_hold", "quota_poll"}
	if got := Closest("LINGR", fields, 2); got != "linger" {
		t.Errorf("Closest(LINGR) = %q, want linger (case is ignored)", got)
	}
	if got := Closest("quota_pol", fields, 2); got != "quota_poll" {
		t.Errorf("Closest(quota_pol) = %q, want quota_poll", got)
	}
	if got := Closest("zzzzzzzz", fields, 2); got != "" {
		t.Errorf("Closest(zzzzzzzz) = %q, want nothing", got)
	}
	if got := Closest("ab", []string{"ac", "aa"}, 1); got != "aa" {
		t.Errorf("a tie = %q, want the alphabetically first", got)
	}
}
