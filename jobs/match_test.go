package jobs

import "testing"

func TestMatchPrefersTheMostSpecificEntry(t *testing.T) {
	t.Parallel()
	v, err := NewValidator(ValidatorConfig{Domains: []string{
		"*.example.com", "static.example.com", "*.img.example.com", "Other.ORG", "*.example.com",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{
		"static.example.com":    1, // exact beats the wildcard listed first
		"a.static.example.com":  0, // exact entries cover no subdomain
		"x.img.example.com":     2, // the longer wildcard wins
		"img.example.com":       0, // *.img.example.com does not cover img.example.com
		"www.example.com":       0, // the first of two equal wildcards
		"other.org":             3,
		"example.com":           -1,
		"evil-example.com":      -1,
		"static.example.com.cn": -1,
	} {
		i, ok := v.Match(host)
		if i != want || ok != (want >= 0) || v.Allowed(host) != ok {
			t.Errorf("Match(%q) = %d, %v (Allowed %v), want %d", host, i, ok, v.Allowed(host), want)
		}
	}
}
