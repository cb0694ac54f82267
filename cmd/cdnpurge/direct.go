package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/worker"
)

// runDirect sends the paths from this process through the worker's own
// submitter (worker.SendDirect): batched to the worker's limits, each
// batch gated on the quota mirror, retried by apiclient, and steered by
// the same verdicts as the service. With --wait it follows the tasks with
// the tracker's poll (worker.FollowTasks).
func (a *app) runDirect(ctx context.Context, s *setup, req request, f purgeFlags, prog *progress) (summary, error) {
	sum := summary{Action: actionName(req), Mode: "direct", Paths: len(req.paths), Unit: "tasks", start: time.Now()}
	client, err := s.apiClient(nil)
	if err != nil {
		return sum, err
	}
	targets, _, _, closeStores, err := s.purgeTargets(client)
	if err != nil {
		return sum, err
	}
	defer closeStores()
	productOf, err := s.productOf()
	if err != nil {
		return sum, err
	}
	deps := worker.DirectDeps{Logger: s.log, Targets: targets, ProductOf: productOf}
	j := req.job(nil)
	prog.set("submitted", 0, sum.Paths, "paths")
	rep, err := worker.SendDirect(ctx, s.cfg.WorkerConfig(), deps, j)
	if err != nil {
		return sum, err
	}
	sum.Calls, sum.Submitted = rep.Calls, rep.Submitted
	prog.set("submitted", sum.Submitted, sum.Paths, "paths")
	for _, t := range rep.Tasks {
		sum.TaskIDs = append(sum.TaskIDs, t.ID)
	}
	for _, g := range groupProblems(rep.Rejected) {
		sum.failPaths(failure{What: fmt.Sprintf("%s refused (first %s)", plural(g.n, "path"), g.first), Reason: g.reason, Path: g.first}, g.n)
	}
	for _, ns := range rep.NotSent {
		if ns.Quota {
			sum.wait(len(ns.Paths), ns.Until)
			continue
		}
		// Not sent for another reason (account, credentials, a domain
		// stopped, the API unreachable): this run does not try again.
		reason := ns.Reason
		if !ns.Until.IsZero() {
			reason += "; try again after " + ns.Until.Format(time.RFC3339)
		}
		sum.failPaths(failure{What: fmt.Sprintf("%s not sent (first %s)", plural(len(ns.Paths), "path"), ns.Paths[0]), Reason: reason, Path: ns.Paths[0]}, len(ns.Paths))
	}
	if f.wait && len(rep.Tasks) > 0 {
		sum.Waited = true
		return sum, followTasks(ctx, deps, rep.Tasks, f.poll, prog, &sum)
	}
	return sum, nil
}

// problemGroup is the refused paths that share a reason.
type problemGroup struct {
	reason, first string
	n             int
}

// groupProblems groups refused paths by reason, in order of first
// appearance, so that a refused batch is one line, not one per path.
func groupProblems(ps []jobs.Problem) []problemGroup {
	var out []problemGroup
	idx := map[string]int{}
	for _, p := range ps {
		i, ok := idx[p.Reason]
		if !ok {
			i = len(out)
			idx[p.Reason] = i
			out = append(out, problemGroup{reason: p.Reason, first: p.Path})
		}
		out[i].n++
	}
	return out
}

func actionName(req request) string {
	if req.kind == jobs.KindPush {
		return "push"
	}
	return "purge " + strings.ToLower(string(req.ot))
}

// followTasks follows the tasks of each target with worker.FollowTasks
// until every task is final, a poll fails, or ctx ends.
func followTasks(ctx context.Context, deps worker.DirectDeps, tasks []worker.DirectTask, every time.Duration, prog *progress, sum *summary) error {
	byTarget := map[apiclient.Product][]string{}
	var order []apiclient.Product
	for _, t := range tasks {
		if _, ok := byTarget[t.Target]; !ok {
			order = append(order, t.Target)
		}
		byTarget[t.Target] = append(byTarget[t.Target], t.ID)
	}
	total, doneBefore := 0, 0
	for _, ids := range byTarget {
		total += len(ids)
	}
	sum.Pending = total
	for _, p := range order {
		tt := worker.TaskTargetOf(p, deps.Targets[p].API)
		results, err := worker.FollowTasks(ctx, tt, byTarget[p], every, func(final, n int) {
			prog.set("tasks done", doneBefore+final, total, "tasks")
		})
		ids := slices.Compact(slices.Sorted(slices.Values(byTarget[p])))
		for _, id := range ids {
			r := results[id]
			if !r.Final() {
				continue
			}
			doneBefore++
			sum.Pending--
			if r.Status == apiclient.TaskFailed {
				sum.Failed++
				for _, fl := range r.Failures {
					sum.failPaths(failure{What: "task " + id + " " + fl.Path, Reason: fl.Reason, Task: id, Path: fl.Path}, 1)
				}
			} else {
				sum.Completed++
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow tasks: %w (see them later with cdnpurge tasks --id)", err)
		}
	}
	return nil
}
