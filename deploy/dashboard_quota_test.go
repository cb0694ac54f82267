package deploy

import (
	"regexp"
	"strings"
	"testing"
)

// The quota series carry a target label (cdn, dcdn): every dashboard query
// of them names the target, so that CDN's and DCDN's quotas are never
// summed or maxed together, and DCDN has panels of its own. Panels do
// not overlap.
func TestDashboardQuotaPanelsByTarget(t *testing.T) {
	t.Parallel()
	dash := readDashboard(t)
	quotaSeries := regexp.MustCompile(`cdnpurge_quota_[a-z_]+`)
	dcdn := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if !quotaSeries.MatchString(tg.Expr) {
				continue
			}
			if !strings.Contains(tg.Expr, "target") {
				t.Errorf("panel %q: %s does not tell the targets apart", p.Title, tg.Expr)
			}
			if strings.Contains(tg.Expr, `target="dcdn"`) {
				dcdn++
			}
		}
	}
	if dcdn == 0 {
		t.Error("no panel shows the DCDN quota")
	}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range dash.Panels {
		g := p.GridPos
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if g.X+g.W > 24 {
			t.Errorf("panel %q is wider than the grid", p.Title)
		}
	}
}
