package jobs

import (
	"slices"
	"testing"
)

func TestDistinctKeepsFirstAppearanceOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"b", "a", "b", "c", "a"}, []string{"b", "a", "c"}},
	} {
		in := slices.Clone(tc.in)
		if got := Distinct(in); !slices.Equal(got, tc.want) {
			t.Errorf("Distinct(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Distinct changed its argument to %q", in)
		}
	}
}
