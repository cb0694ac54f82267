package apiclient

import "testing"

func TestPathDomain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"https://static.example.com/a", "static.example.com"},
		{"https://b.example.com", "b.example.com"},
		{"static.example.com/a.css", "static.example.com"},
		{"http://a.example.com:8080/?q", "a.example.com"},
		{"https://a.example.com:443", "a.example.com"},
		{"https://a.example.com?q=1", "a.example.com"},
		{"https://a.example.com#top", "a.example.com"},
		{"https://Static.Example.COM/A.css", "static.example.com"},
		{"HTTPS://STATIC.EXAMPLE.COM:8443/", "static.example.com"},
		{"https://static.example.com./a", "static.example.com"},
		{"https://static.example.com.:8080/a", "static.example.com"},
		{"http://[::1]/a", "[::1]"},
		{"http://[::1]:8080/a", "[::1]"},
		{"http://[2001:DB8::1]:80", "[2001:db8::1]"},
		{"[2001:db8::1]:80/a", "[2001:db8::1]"},
		{"https://user:pw@static.example.com:8080/a", "static.example.com"},
		{"https://static.example.com:/a", "static.example.com"},
		{"/a/b", ""},
		{"", ""},
	} {
		if got := PathDomain(c.in); got != c.want {
			t.Errorf("PathDomain(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
