package jobs

import (
	"testing"
	"time"
)

func TestContentDigestIgnoresIDSourceAndTime(t *testing.T) {
	t.Parallel()
	a := testRefreshJob("https://static.example.com/a")
	b := testRefreshJob("https://static.example.com/a")
	b.Source, b.ReceivedAt = "elsewhere", time.Unix(0, 0)
	da, _ := ContentDigest([]*Job{a})
	db, _ := ContentDigest([]*Job{b})
	if da != db || a.ID == b.ID {
		t.Fatalf("digests %s %s differ for the same content", da, db)
	}
	force := true
	b.Refresh.ObjectType, b.Refresh.Force = "Directory", &force
	if dc, _ := ContentDigest([]*Job{b}); dc == da {
		t.Fatal("object type and force are content")
	}
}

func testRefreshJob(paths ...string) *Job {
	j := &Job{Kind: KindRefresh, Refresh: &RefreshSpec{Paths: paths}}
	j.Prepare("test", time.Now())
	return j
}
