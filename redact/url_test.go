package redact

import (
	"strings"
	"testing"
)

func TestURLMasksCredentials(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in, want string
	}{
		{"no user info", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"password", "nats://alice:s3cret-pw@nats.example:4222", "nats://alice:xxxxx@nats.example:4222"},
		{"token", "nats://s3cret-token@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		{"redis password only", "redis://:s3cret-pw@redis.example:6379/0", "redis://:xxxxx@redis.example:6379/0"},
		{"list", "nats://a:s3cret-pw@n1:4222, nats://n2:4222,nats://s3cret-token@n3:4222",
			"nats://a:xxxxx@n1:4222, nats://n2:4222,nats://xxxxx@n3:4222"},
		// url.Parse refuses these: the user info goes all the same.
		{"bad escape in password", "nats://alice:s3cret%zz-pw@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		{"slash in password", "nats://alice:s3cret/pw@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		{"space in password", "nats://alice:s3cret pw@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		// Parsed, but not as user info.
		{"numeric password with slash", "nats://alice:1234/s3cret@nats.example:4222", "nats://xxxxx@nats.example:4222"},
		{"no scheme", "alice:s3cret-pw@nats.example:4222", "xxxxx@nats.example:4222"},
		{"no scheme in a list", "nats://n1:4222,alice:s3cret-pw@n2:4222", "nats://n1:4222,xxxxx@n2:4222"},
		{"unparsable without user info", "nats://[::1:4222", "nats://[::1:4222"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := URL(c.in)
			if got != c.want {
				t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("URL(%q) = %q keeps the secret", c.in, got)
			}
		})
	}
}
