package kvjson

import "testing"

func TestValidBucket(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"cdnpurge-replay": true, "CDNPURGE_TASKS": true, "a": true, "b-1_X": true,
		"": false, "a.b": false, "a b": false, "a*": false, "a>": false, "a/b": false, "é": false, "tasks\n": false,
	} {
		if got := ValidBucket(name); got != want {
			t.Errorf("ValidBucket(%q) = %v, want %v", name, got, want)
		}
	}
}
