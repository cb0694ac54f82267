package operations

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/jobs"
)

func TestValidateNamesScheduleAndField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    Schedule
		want []string
	}{
		{"unknown action with suggestion", Schedule{Name: "campaign-on", Cron: "0 9 * * *", Action: "SetRefererConfg",
			Params: map[string]string{"DomainName": "example.com"}},
			[]string{`schedules[3] (campaign-on).action: unknown action "SetRefererConfg" (did you mean SetRefererConfig?)`}},
		{"missing parameter", Schedule{Name: "referer", Cron: "0 9 * * *", Action: "SetRefererConfig",
			Params: map[string]string{"ReferType": "block"}},
			[]string{"schedules[3] (referer).params.DomainName: required by SetRefererConfig"}},
		{"misspelt parameter", Schedule{Name: "gzip", Cron: "0 9 * * *", Action: "SetPageCompressConfig",
			Params: map[string]string{"DomainName": "example.com", "Enabled": "on"}},
			[]string{"params.Enable: required by SetPageCompressConfig", "params.Enabled: not a parameter of SetPageCompressConfig (did you mean Enable?)"}},
		{"bad value", Schedule{Name: "night", Cron: "0 23 * * *", Action: "ModifyCdnService",
			Params: map[string]string{"InternetChargeType": "PayByBandwith"}},
			[]string{`params.InternetChargeType: "PayByBandwith" is not a value ModifyCdnService takes; want one of PayByTraffic, PayByBandwidth`}},
		{"bad cron and zone and name", Schedule{Name: "a b", Cron: "61 * * * *", TimeZone: "Mars/Olympus", Action: "StopCdnDomain",
			Params: map[string]string{"DomainName": "example.com"}},
			[]string{"schedules[3] (a b).name:", "time_zone:", `"Mars/Olympus" is not a known time zone`}},
		{"bad cron", Schedule{Name: "x", Cron: "61 * * * *", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "example.com"}},
			[]string{`schedules[3] (x).cron: "61 * * * *"`}},
		{"zone in cron", Schedule{Name: "x", Cron: "CRON_TZ=UTC 0 * * * *", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "example.com"}},
			[]string{"put the zone in time_zone"}},
		{"refresh without paths", Schedule{Name: "warm", Cron: "@every 30m", Action: "refresh"},
			[]string{"schedules[3] (warm).paths: missing"}},
		{"push with object type", Schedule{Name: "warm", Cron: "@hourly", Action: "push", ObjectType: "Directory", Paths: []string{"https://example.com/"}},
			[]string{"push takes no object_type"}},
		{"missing everything", Schedule{}, []string{"schedules[3].name: missing", "schedules[3].cron: missing", "schedules[3].action: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate(3).Prefix("schedules")
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() =\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	for i, s := range []Schedule{
		{Name: "night", Cron: "0 23 * * *", Action: "ModifyCdnService", CatchUp: true, Params: map[string]string{"InternetChargeType": "PayByBandwidth"}},
		{Name: "day", Cron: "0 0 7 * * *", TimeZone: "UTC", Action: "ModifyCdnService", Params: map[string]string{"InternetChargeType": "PayByTraffic"}},
		{Name: "on", Cron: "@daily", Action: "SetRefererConfig", Params: map[string]string{"DomainName": "example.com", "ReferType": "Allow", "ReferList": "a.com"}},
		{Name: "stop", Cron: "30 2 * * 1-5", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "example.com"}},
		{Name: "warm", Cron: "@every 30m", Action: "push", Paths: []string{"https://example.com/index.html"}, Area: "domestic"},
		{Name: "purge", Cron: "0 */2 * * *", Action: "refresh", Paths: []string{"https://example.com/news/"}, ObjectType: "Directory"},
	} {
		if err := s.Validate(i); err != nil {
			t.Errorf("Validate(%s) = %v", s.Name, err)
		}
	}
}

func TestValidateAllDuplicatesAndDomains(t *testing.T) {
	t.Parallel()
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	err = ValidateAll([]Schedule{
		{Name: "a", Cron: "@daily", Action: "refresh", Paths: []string{"https://other.org/x.js"}},
		{Name: "a", Cron: "@daily", Action: "StartCdnDomain", Params: map[string]string{"DomainName": "example.com"}},
	}, v).Prefix("schedules").Err()
	if err == nil {
		t.Fatal("ValidateAll = nil")
	}
	for _, w := range []string{`schedules[1].name: "a" is also the name of schedules[0]`, "schedules[0] (a).refresh.paths[0]"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("ValidateAll =\n%v\nwant %q", err, w)
		}
	}
}

func TestEveryIsAlignedAcrossReplicas(t *testing.T) {
	t.Parallel()
	e, err := Schedule{Name: "x", Cron: "@every 30m", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "d"}}.parse()
	if err != nil {
		t.Fatal(err)
	}
	a := e.Next(time.Date(2026, 1, 1, 10, 7, 13, 0, time.UTC))
	b := e.Next(time.Date(2026, 1, 1, 10, 21, 59, 0, time.UTC))
	want := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	if !a.Equal(want) || !b.Equal(want) {
		t.Fatalf("Next = %v and %v, want both %v", a, b, want)
	}
}

func TestPrevAndZone(t *testing.T) {
	t.Parallel()
	e, err := Schedule{Name: "x", Cron: "0 23 * * *", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "d"}}.parse()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC) // 20:00 in Shanghai
	prev, ok := e.Prev(now)
	if want := time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC); !ok || !prev.Equal(want) {
		t.Fatalf("Prev = %v %v, want %v", prev, ok, want)
	}
	next := e.Next(now)
	if next.Format("15:04 MST") != "23:00 CST" || !next.Equal(time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)) {
		t.Fatalf("Next = %v, want 23:00 CST on 2026-03-10", next)
	}
	if p, _ := e.Prev(next); !p.Equal(next) {
		t.Fatalf("Prev(tick) = %v, want the tick itself", p)
	}
	yearly, _ := Schedule{Name: "y", Cron: "0 0 29 2 *", TimeZone: "UTC", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "d"}}.parse()
	if p, ok := yearly.Prev(now); !ok || !p.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Prev(29 Feb) = %v %v", p, ok)
	}
}

func TestDedupeKeyAndJob(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	if got := DedupeKey("night", tick); got != "sched-night-1795618800" {
		t.Fatalf("DedupeKey = %s", got)
	}
	s := Schedule{Name: "night", Action: "ModifyCdnService", Params: map[string]string{"InternetChargeType": " PayByBandwidth "}}
	a, b := s.job(tick), s.job(tick)
	if a.ID != b.ID || a.Kind != jobs.KindOperation || a.Operation.Params["InternetChargeType"] != "PayByBandwidth" || !a.Operation.Tick.Equal(tick) {
		t.Fatalf("job = %+v %+v", a, a.Operation)
	}
	if a.OpName() != "night" {
		t.Fatalf("OpName = %s", a.OpName())
	}
}

// The schedule examples of the README (a short one) and of
// docs/schedules.md (one of each kind) are valid configs.
func TestReadmeExampleIsValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, section string
		want          int
	}{{"../../README.md", "\n## Schedules\n", 2}, {"../../docs/schedules.md", "# Schedules\n", 6}} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		sec := strings.Index(text, tc.section)
		if sec < 0 {
			t.Fatalf("%s has no Schedules section", tc.file)
		}
		text = text[sec:]
		start := strings.Index(text, "```yaml\n")
		if start < 0 {
			t.Fatalf("%s has no yaml block", tc.file)
		}
		end := strings.Index(text[start+8:], "```")
		if end < 0 {
			t.Fatalf("%s: the yaml block does not end", tc.file)
		}
		var cfg struct {
			Schedules []Schedule `yaml:"schedules"`
		}
		if err := yaml.Unmarshal([]byte(text[start+8:start+8+end]), &cfg); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"www.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Schedules) != tc.want {
			t.Fatalf("%s example has %d schedules, want %d", tc.file, len(cfg.Schedules), tc.want)
		}
		if err := ValidateAll(cfg.Schedules, v); err != nil {
			t.Fatalf("%s example: %v", tc.file, err)
		}
	}
}

func TestValidateAllRefusesDomainsOffTheAllowlist(t *testing.T) {
	t.Parallel()
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com", "*.cdn.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	ok := []Schedule{
		{Name: "a", Cron: "@daily", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "Example.com"}},
		{Name: "b", Cron: "@daily", Action: "StartCdnDomain", Params: map[string]string{"DomainName": "img.cdn.example.org"}},
		{Name: "c", Cron: "@daily", Action: "ModifyCdnService", Params: map[string]string{"InternetChargeType": "PayByTraffic"}},
	}
	if err := ValidateAll(ok, v); err != nil {
		t.Fatalf("allowed domains refused: %v", err)
	}
	bad := []Schedule{
		{Name: "a", Cron: "@daily", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "victim.org"}},
		{Name: "b", Cron: "@daily", Action: "SetReqAuthConfig", Params: map[string]string{"DomainName": "example.com,victim.org", "AuthType": "no_auth"}},
		{Name: "c", Cron: "@daily", Action: "StartCdnDomain", Params: map[string]string{"DomainName": " , "}},
	}
	err = ValidateAll(bad, v).Prefix("schedules").Err()
	for _, want := range []string{
		`schedules[0] (a).params.DomainName: "victim.org" is not on the domain allowlist`,
		`schedules[1] (b).params.DomainName: "victim.org" is not on the domain allowlist`,
		`schedules[2] (c).params.DomainName: missing`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateAll =\n%v\nwant %q", err, want)
		}
	}
}

func TestAuthorityTickRules(t *testing.T) {
	t.Parallel()
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	state := NewMemoryStateStore()
	a, err := NewAuthority(AuthorityConfig{Allowlist: v, State: state, Now: func() time.Time { return now }, Schedules: []Schedule{
		{Name: "warm", Cron: "@every 30m", Action: ActionPush, Paths: []string{"example.com/index.html"}},
		{Name: "stop", Cron: "0 9 * * *", TimeZone: "UTC", Action: "StopCdnDomain", Params: map[string]string{"DomainName": "example.com"}},
		{Name: "off", Cron: "@daily", Disabled: true, Action: "StopCdnDomain", Params: map[string]string{"DomainName": "example.com"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	j, err := a.Resolve(ctx, "warm", now, nil)
	if err != nil || j.Push == nil || j.Push.Paths[0] != "https://example.com/index.html" || j.Source != "schedule:warm" {
		t.Fatalf("push tick = %+v, %v; want the configured, normalised push", j, err)
	}
	nine := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		tick time.Time
		want string
	}{
		{"warm", now.Add(10 * time.Minute), "not a fire time"},
		{"warm", now.Add(time.Hour), "in the future"},
		{"warm", now.Add(time.Millisecond), "not a fire time"},
		{"stop", nine.Add(time.Hour), "not a fire time"},
		{"off", nine, "not an enabled schedule"},
		{"stop", time.Time{}, "names no tick"},
	} {
		if _, err := a.Resolve(ctx, c.name, c.tick, nil); !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%s, %v) = %v, want %q", c.name, c.tick, err, c.want)
		}
	}
	if _, err := a.Resolve(ctx, "stop", nine, nil); err != nil {
		t.Fatalf("configured tick refused: %v", err)
	}
	// A failed run may be tried again; a done one, or an older tick, not.
	_ = state.Update(ctx, "stop", func(st *State) bool { st.LastRunTick, st.LastResult = nine, ResultFailed; return true })
	if _, err := a.Resolve(ctx, "stop", nine, nil); err != nil {
		t.Fatalf("retry of a failed tick refused: %v", err)
	}
	_ = state.Update(ctx, "stop", func(st *State) bool { st.LastResult = ResultOK; return true })
	if _, err := a.Resolve(ctx, "stop", nine, nil); err == nil || !strings.Contains(err.Error(), "already ran") {
		t.Fatalf("done tick: %v, want already ran", err)
	}
	if _, err := a.Resolve(ctx, "stop", nine.Add(-24*time.Hour), nil); err == nil || !strings.Contains(err.Error(), "older than") {
		t.Fatalf("older tick: %v, want older than", err)
	}
}
