// Package suggest finds the likely intended word for a misspelled one
// (config fields, environment variables, actions, commands), for "did you
// mean" hints. It imports nothing of the project's, and sits at the top
// level so that config, worker/operations and cmd/cdnpurge each import it
// without reaching into another package's subtree.
package suggest

import "strings"

// Closest returns the candidate nearest to s, ignoring case, when it is at
// most maxDist edits away, else "". Ties go to the alphabetically first.
func Closest(s string, candidates []string, maxDist int) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := Distance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > maxDist {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance of a and b (bytewise).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
