package jobs

import "testing"

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"cdn.purge.refresh", "cdn.purge.refresh", true},
		{"cdn.purge.refresh", "cdn.purge.push", false},
		{"cdn.status.*", "cdn.status.06h51", true},
		{"cdn.status.*", "cdn.status.a.b", false},
		{"cdn.status.>", "cdn.status.a.b", true},
		{"cdn.status.>", "cdn.status", false},
		{"$JS.API.>", "$JS.API.STREAM.DELETE.CDNPURGE", true},
		{"$JS.API.CONSUMER.CREATE.*.cdnpurge-archive.>", "$JS.API.CONSUMER.CREATE.CDNPURGE_STATUS.cdnpurge-archive.cdn.status.>", true},
		{"$JS.API.CONSUMER.CREATE.*.cdnpurge-archive.>", "$JS.API.CONSUMER.CREATE.CDNPURGE_STATUS.cdnpurge-archive", false},
		{"$KV.CDNPURGE_CONTROL.pause", "$KV.CDNPURGE_CONTROL.pause.x", false},
	} {
		if got := SubjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}
