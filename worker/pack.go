package worker

import (
	"slices"
)

// piece is part of one domain's paths in one call.
type piece struct {
	domain int // index into the counts given to pack
	n      int
}

// packBudget bounds the exhaustive search pack falls back on when its
// greedy fill misses the lower bound; past it pack takes one call more.
const packBudget = 20_000

// callsLowerBound is the fewest calls that can carry counts (paths per
// domain) with at most size paths and domains domains per call (0: no
// domain cap): enough calls for the paths, and enough domain slots for
// every domain, a domain of more than size paths needing one per size.
func callsLowerBound(counts []int, size, domains int) int {
	total, slots := 0, 0
	for _, c := range counts {
		total += c
		slots += (c + size - 1) / size
	}
	lb := (total + size - 1) / size
	if domains > 0 {
		lb = max(lb, (slots+domains-1)/domains)
	}
	return lb
}

// pack cuts counts (paths per domain) into as few calls as the limits
// allow: at most size paths and, when domains > 0, at most domains
// distinct domains per call. A domain may be split across calls. Most
// full single-domain calls go first; the rest is filled
// best-fit-decreasing into the lower bound of calls, then, if that fails,
// searched exhaustively within a budget, one call more at a time.
func pack(counts []int, size, domains int) [][]piece {
	var calls [][]piece
	var rest []piece
	for d, c := range counts {
		// A domain's full single-domain calls go first, but for one: with
		// it the domain can still lend paths to fill calls of others.
		for ; c >= 2*size; c -= size {
			calls = append(calls, []piece{{d, size}})
		}
		if c > 0 {
			rest = append(rest, piece{d, c})
		}
	}
	if len(rest) == 0 {
		return calls
	}
	if domains <= 0 || len(rest) <= domains {
		// No domain cap binds: cut the line of paths every size.
		return append(calls, cutLine(rest, size)...)
	}
	// Largest first; equal sizes keep the domains' order.
	slices.SortStableFunc(rest, func(a, b piece) int { return b.n - a.n })
	rc := make([]int, len(rest))
	for i, p := range rest {
		rc[i] = p.n
	}
	for k := callsLowerBound(rc, size, domains); ; k++ {
		if bins, ok := fillGreedy(rest, k, size, domains); ok {
			return append(calls, bins...)
		}
		if bins, ok := fillSequential(rest, k, size, domains); ok {
			return append(calls, bins...)
		}
		budget := packBudget
		if bins, ok := fillSearch(rest, k, size, domains, &budget); ok {
			return append(calls, bins...)
		}
	}
}

// cutLine lays the pieces end to end and cuts every size paths.
func cutLine(ps []piece, size int) [][]piece {
	var out [][]piece
	var cur []piece
	room := size
	for _, p := range ps {
		for p.n > 0 {
			n := min(p.n, room)
			cur = append(cur, piece{p.domain, n})
			p.n -= n
			room -= n
			if room == 0 {
				out = append(out, cur)
				cur, room = nil, size
			}
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// fillGreedy puts each piece (largest first) whole into the fullest call
// that still takes it, or else splits it over the emptiest calls with a
// free domain slot. It reports false if k calls are not enough that way.
func fillGreedy(ps []piece, k, size, domains int) ([][]piece, bool) {
	bins := make([][]piece, k)
	room := make([]int, k)
	for i := range room {
		room[i] = size
	}
	for _, p := range ps {
		best := -1
		for i := range bins {
			if len(bins[i]) < domains && room[i] >= p.n && (best < 0 || room[i] < room[best]) {
				best = i
			}
		}
		if best >= 0 {
			bins[best] = append(bins[best], p)
			room[best] -= p.n
			continue
		}
		for p.n > 0 {
			best = -1
			for i := range bins {
				if len(bins[i]) < domains && room[i] > 0 && (best < 0 || room[i] > room[best]) {
					best = i
				}
			}
			if best < 0 {
				return nil, false
			}
			n := min(p.n, room[best])
			bins[best] = append(bins[best], piece{p.domain, n})
			room[best] -= n
			p.n -= n
		}
	}
	return bins, true
}

// fillSequential fills one call after the other to the brim: small
// pieces (from the smallest) whole while they fit and leave a domain slot,
// then large ones (from the largest), split where the call ends. ps is
// sorted largest first. It reports false if k calls are not enough.
func fillSequential(ps []piece, k, size, domains int) ([][]piece, bool) {
	ps = slices.Clone(ps)
	lo, hi := 0, len(ps)-1 // next large, next small
	bins := make([][]piece, 0, k)
	for lo <= hi {
		if len(bins) == k {
			return nil, false
		}
		var bin []piece
		room := size
		for room > 0 && lo <= hi && len(bin) < domains {
			if len(bin) < domains-1 && ps[hi].n <= room && hi > lo {
				bin = append(bin, ps[hi])
				room -= ps[hi].n
				hi--
				continue
			}
			n := min(ps[lo].n, room)
			bin = append(bin, piece{ps[lo].domain, n})
			room -= n
			if ps[lo].n -= n; ps[lo].n == 0 {
				lo++
			}
		}
		bins = append(bins, bin)
	}
	return bins, true
}

// fillSearch decides exhaustively whether k calls can carry ps, within
// budget steps: each piece in turn is put into a call, all of it or part,
// largest part first.
func fillSearch(ps []piece, k, size, domains int, budget *int) ([][]piece, bool) {
	bins := make([][]piece, k)
	room := make([]int, k)
	for i := range room {
		room[i] = size
	}
	var place func(i, left int) bool
	place = func(i, left int) bool {
		if *budget <= 0 {
			return false
		}
		*budget--
		if i == len(ps) {
			return true
		}
		if left == 0 {
			return place(i+1, ps[min(i+1, len(ps)-1)].n)
		}
		d := ps[i].domain
		tried := map[[2]int]bool{} // calls alike in room and slots are one choice
		for b := range bins {
			if len(bins[b]) >= domains || room[b] == 0 || slices.ContainsFunc(bins[b], func(q piece) bool { return q.domain == d }) {
				continue
			}
			sig := [2]int{room[b], len(bins[b])}
			if tried[sig] {
				continue
			}
			tried[sig] = true
			for n := min(left, room[b]); n > 0; n-- {
				bins[b] = append(bins[b], piece{d, n})
				room[b] -= n
				if place(i, left-n) {
					return true
				}
				bins[b] = bins[b][:len(bins[b])-1]
				room[b] += n
			}
		}
		return false
	}
	if !place(0, ps[0].n) {
		return nil, false
	}
	return bins, true
}
