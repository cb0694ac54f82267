package jobs

import (
	"errors"
	"strings"
	"testing"
)

// A hostname or purgeall purge empties a whole host or site: the wire
// refuses it, with the reason, whoever sends it (a hook's body, a NATS
// publisher); only the CLI's direct path and schedules reach it.
func TestValidateRefusesOperatorOnlyESATypes(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	for _, ot := range []string{"hostname", "Hostname", "purgeall", "PurgeAll", " PURGEALL ", "purge_all"} {
		j := &Job{ID: "j1", Version: WireVersion, Kind: KindRefresh, Refresh: &RefreshSpec{ObjectType: ot, Paths: []string{"https://static.example.com/"}}}
		err := v.Validate(j)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Fatalf("%q: %v, want one problem", ot, err)
		}
		p := ve.Problems[0]
		if p.Field != "refresh.object_type" || !strings.Contains(p.Reason, "only an operator may ask") || !strings.Contains(p.Reason, "never a hook or a queued job") {
			t.Errorf("%q: problem %+v", ot, p)
		}
	}
	for _, ot := range []string{"", "File", "Directory", "ExQuery"} {
		j := &Job{ID: "j1", Version: WireVersion, Kind: KindRefresh, Refresh: &RefreshSpec{ObjectType: ot, Paths: []string{"https://static.example.com/a/"}}}
		if err := v.Validate(j); err != nil {
			t.Errorf("%q refused: %v", ot, err)
		}
	}
}

// A schedule's job comes from the operator's config: it may purge a whole
// ESA site; the same job from a message may not.
func TestValidateOperatorAllowsWholeSitePurges(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	mk := func() *Job {
		return &Job{ID: "nightly-1", Version: WireVersion, Kind: KindRefresh,
			Refresh: &RefreshSpec{ObjectType: "purgeall", Paths: []string{"https://static.example.com/"}}}
	}
	if err := v.ValidateOperator(mk()); err != nil {
		t.Errorf("a scheduled purgeall: %v", err)
	}
	if err := v.Validate(mk()); err == nil {
		t.Error("the same job from a message passes")
	}
}
