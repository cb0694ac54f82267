package fielderr

import (
	"errors"
	"testing"
)

func TestPrefixJoinsPathsAndLeavesTheOriginal(t *testing.T) {
	t.Parallel()
	var l List
	l.Add("linger", "%s: must be > 0", "0s")
	l.Add("[2] (nightly).cron", "missing")
	l.Add("", "no field")
	got := l.Prefix("worker")
	want := List{{"worker.linger", "0s: must be > 0"}, {"worker[2] (nightly).cron", "missing"}, {"worker", "no field"}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Prefix[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if l[0].Field != "linger" {
		t.Errorf("Prefix changed the original: %+v", l[0])
	}
	var all List
	all.Append("schedules", List{{"[0].name", "missing"}})
	if all[0].Field != "schedules[0].name" {
		t.Errorf("Append = %+v", all)
	}
}

func TestErrIsNilForNoProblems(t *testing.T) {
	t.Parallel()
	var l List
	if err := l.Err(); err != nil {
		t.Fatalf("empty List.Err() = %v, want nil", err)
	}
	l.Add("a.b", "bad")
	err := l.Err()
	var fe Error
	if !errors.As(err, &fe) || fe.Field != "a.b" || err.Error() != "a.b: bad" {
		t.Fatalf("Err() = %v, As gives %+v", err, fe)
	}
}
