package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/quota"
)

// CollapseConfig turns many URLs of one directory into one Directory
// refresh, trading URL quota (10,000 a day by default) for directory quota
// (100 a day). Off by default: a directory refresh also drops the cached
// copies of objects under it that did not change, which the origin then
// serves again.
type CollapseConfig struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// MinURLs is the fewest URLs of a job's group worth collapsing; 200.
	MinURLs int `yaml:"min_urls" json:"min_urls"`
	// When is "short" (only when today's URL quota left cannot take the
	// group) or "always"; short by default.
	When string `yaml:"when" json:"when"`
	// MaxDirs caps the directories one group becomes; 10. A group that
	// would need more stays URLs.
	MaxDirs int `yaml:"max_dirs" json:"max_dirs"`
	// Force is the Directory refresh's Force: true purges everything under
	// the directory, false only what changed at the origin.
	Force bool `yaml:"force" json:"force"`
	// Roots, when set, are the only URL prefixes under which URLs
	// collapse, and a directory is never above its root; otherwise the
	// root is the domain's /.
	Roots []string `yaml:"roots" json:"roots"`
	// Exclude lists URL prefixes that are never collapsed.
	Exclude []string `yaml:"exclude" json:"exclude"`
}

// WithDefaults fills the zero fields.
func (c CollapseConfig) WithDefaults() CollapseConfig {
	if c.MinURLs == 0 {
		c.MinURLs = 200
	}
	if c.When == "" {
		c.When = "short"
	}
	if c.MaxDirs == 0 {
		c.MaxDirs = 10
	}
	return c
}

// Validate names every bad field relative to the collapse section
// ("when").
func (c CollapseConfig) Validate() fielderr.List {
	var errs fielderr.List
	bad := errs.Add
	switch c.When {
	case "", "short", "always":
	default:
		bad("when", "%q: want short or always", c.When)
	}
	if c.MinURLs < 0 {
		bad("min_urls", "%d: must be >= 1", c.MinURLs)
	}
	if c.MaxDirs < 0 || c.MaxDirs > 100 {
		bad("max_dirs", "%d: want 1-100 (a Directory refresh takes at most 100)", c.MaxDirs)
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"roots", c.Roots}, {"exclude", c.Exclude}} {
		for i, r := range l.list {
			if !strings.Contains(r, "://") || !strings.HasSuffix(r, "/") {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "%q: want a URL prefix ending in /, such as https://static.example.com/assets/", r)
			}
		}
	}
	return errs
}

// collapsed is what collapse made of a group's URLs.
type collapsed struct {
	dirs []string
	// covers counts the URLs each directory stands for.
	covers map[string]int
	kept   []string // URLs left as they are
}

// note says which URLs became which directories, for the status event.
func (c collapsed) note() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d URLs refreshed as %d directories (worker.collapse):", sumCovers(c.covers), len(c.dirs))
	for i, d := range c.dirs {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(c.dirs)-10)
			break
		}
		fmt.Fprintf(&b, " %s (%d URLs)", d, c.covers[d])
	}
	return b.String()
}

func sumCovers(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// rootOf returns the directory a URL may not collapse above: the longest
// configured root it is under, or its domain's /; "" when roots are set
// and the URL is under none.
func (c CollapseConfig) rootOf(u string) string {
	if len(c.Roots) == 0 {
		i := strings.Index(u, "://")
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(u[i+3:], '/')
		if j < 0 {
			return ""
		}
		return u[:i+3+j+1]
	}
	best := ""
	for _, r := range c.Roots {
		if strings.HasPrefix(u, r) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

// collapse replaces the URLs of paths by their deepest common directories,
// at most MaxDirs of them; ok is false when that is not possible or not
// worth it.
func (c CollapseConfig) collapse(paths []string) (collapsed, bool) {
	c = c.WithDefaults()
	dirs := map[string]string{} // directory -> root
	count := map[string]int{}
	out := collapsed{covers: map[string]int{}}
	for _, u := range paths {
		root := c.rootOf(u)
		excluded := slices.ContainsFunc(c.Exclude, func(p string) bool { return strings.HasPrefix(u, p) })
		slash := strings.LastIndexByte(u, '/')
		if root == "" || excluded || slash < len(root)-1 || strings.ContainsAny(u, "?#") {
			out.kept = append(out.kept, u)
			continue
		}
		d := u[:slash+1]
		dirs[d] = root
		count[d]++
	}
	if sumCovers(count) < c.MinURLs {
		return collapsed{}, false
	}
	// Lift the deepest directory one level until few enough remain; a
	// directory under another is covered by it.
	absorb := func() {
		for d := range dirs {
			for o := range dirs {
				if o != d && strings.HasPrefix(d, o) {
					count[o] += count[d]
					delete(dirs, d)
					delete(count, d)
					break
				}
			}
		}
	}
	absorb()
	for len(dirs) > c.MaxDirs {
		deepest := ""
		for d, root := range dirs {
			if d == root {
				continue
			}
			if deepest == "" || strings.Count(d, "/") > strings.Count(deepest, "/") ||
				(strings.Count(d, "/") == strings.Count(deepest, "/") && d < deepest) {
				deepest = d
			}
		}
		if deepest == "" {
			return collapsed{}, false // every directory is at its root
		}
		parent := deepest[:strings.LastIndexByte(deepest[:len(deepest)-1], '/')+1]
		root := dirs[deepest]
		n := count[deepest]
		delete(dirs, deepest)
		delete(count, deepest)
		if _, ok := dirs[parent]; !ok {
			dirs[parent] = root
		}
		count[parent] += n
		absorb()
	}
	for d := range dirs {
		out.dirs = append(out.dirs, d)
		out.covers[d] = count[d]
	}
	slices.Sort(out.dirs)
	return out, true
}

// snapshotter is a Gate that can tell what is left (quota.Mirror).
type snapshotter interface {
	Snapshot(ctx context.Context) (quota.Snapshot, error)
}

// shouldCollapse reports whether a group of urls URLs becoming dirs
// directories is wanted now: always, or when today's URL quota of the
// target (gate) cannot take them; and only while its directory quota can
// take the dirs.
func (c CollapseConfig) shouldCollapse(ctx context.Context, gate Gate, urls, dirs int) bool {
	s, ok := gate.(snapshotter)
	if !ok {
		return c.When == "always"
	}
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return false
	}
	if snap.Get(quota.KindDir).Remaining < int64(dirs) {
		return false
	}
	return c.When == "always" || snap.Get(quota.KindURL).Remaining < int64(urls)
}
