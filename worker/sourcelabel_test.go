package worker

import "testing"

func TestSourceLabelIsTheKindOrOther(t *testing.T) {
	t.Parallel()
	for source, want := range map[string]string{
		"oss:my-bucket":         "oss",
		"oss:my-bucket+2":       "oss",
		"github:acme/site@main": "github",
		"schedule:nightly":      "schedule",
		"":                      "nats",
		"ossify:x":              OtherLabel,
		"anything":              OtherLabel,
	} {
		if got := sourceLabel(source); got != want {
			t.Errorf("sourceLabel(%q) = %q, want %q", source, got, want)
		}
	}
}
