package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker"
)

// directAPI is what --direct needs of the CDN API client.
type directAPI interface {
	RefreshObjectCaches(ctx context.Context, r apiclient.RefreshRequest) (apiclient.RefreshResult, error)
	PushObjectCache(ctx context.Context, r apiclient.PushRequest) (apiclient.PushResult, error)
	DescribeRefreshTaskByID(ctx context.Context, ids []string) (apiclient.TasksByID, error)
}

// runDirect sends the paths from this process: batched to the worker's
// limits, each batch gated on the quota mirror, retried by apiclient.
func (a *app) runDirect(ctx context.Context, s *setup, req request, f purgeFlags, prog *progress) (summary, error) {
	sum := summary{Action: actionName(req), Mode: "direct", Paths: len(req.paths), Unit: "tasks", start: time.Now()}
	client, err := s.apiClient()
	if err != nil {
		return sum, err
	}
	store, _, closeStore, err := s.quotaStore()
	if err != nil {
		return sum, err
	}
	defer closeStore()
	mirror := quota.NewMirror(store, client, s.cfg.MirrorConfig(s.log))
	batches := splitBatches(req, s.cfg.WorkerConfig().Limits)
	kind := quota.KindForPush()
	if req.kind == jobs.KindRefresh {
		kind = quota.KindForRefresh(req.ot)
	}
	for i, b := range batches {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		r, err := mirror.Reserve(ctx, kind, int64(len(b)))
		if err != nil {
			return sum, fmt.Errorf("quota mirror: %w (check redis.url, or that DescribeRefreshQuota answers)", err)
		}
		if r.Granted == 0 {
			sum.wait(restLen(batches[i:]), mirror.NextReset(time.Now()))
			break
		}
		send := b[:r.Granted]
		ids, err := sendBatch(ctx, client, req, send)
		if err != nil {
			_ = mirror.Refund(context.WithoutCancel(ctx), r)
			switch apiclient.Classify(err) {
			case apiclient.ClassQuota:
				_ = mirror.SyncNow(ctx)
				sum.wait(restLen(batches[i:]), mirror.NextReset(time.Now()))
			case apiclient.ClassBadInput, apiclient.ClassTooBig:
				sum.fail(fmt.Sprintf("batch %d (%d paths, first %s)", i+1, len(send), send[0]), err.Error())
				prog.set("submitted", sum.Submitted, sum.Paths, "paths")
				continue
			default:
				// Account, credentials, or retries used up: the rest would
				// fail the same way.
				sum.fail(fmt.Sprintf("batch %d and the %d after it (%d paths)", i+1, len(batches)-i-1, restLen(batches[i:])), err.Error())
			}
			break
		}
		_ = mirror.Commit(context.WithoutCancel(ctx), r, int64(len(send)))
		sum.Calls++
		sum.Submitted += len(send)
		sum.TaskIDs = append(sum.TaskIDs, ids...)
		prog.set("submitted", sum.Submitted, sum.Paths, "paths")
		if int(r.Granted) < len(b) {
			sum.wait(len(b)-int(r.Granted)+restLen(batches[i+1:]), mirror.NextReset(time.Now()))
			break
		}
	}
	if f.wait && len(sum.TaskIDs) > 0 {
		sum.Waited = true
		return sum, followTasks(ctx, client, sum.TaskIDs, f.poll, prog, &sum)
	}
	return sum, nil
}

func actionName(req request) string {
	if req.kind == jobs.KindPush {
		return "push"
	}
	return "purge " + strings.ToLower(string(req.ot))
}

func restLen(bs [][]string) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

func sendBatch(ctx context.Context, api directAPI, req request, paths []string) ([]string, error) {
	if req.kind == jobs.KindPush {
		res, err := api.PushObjectCache(ctx, apiclient.PushRequest{Paths: paths, Area: req.area, L2Preload: req.l2})
		return res.TaskIDs, err
	}
	res, err := api.RefreshObjectCaches(ctx, apiclient.RefreshRequest{Paths: paths, ObjectType: req.ot, Force: req.force})
	return res.TaskIDs, err
}

// splitBatches cuts paths into API calls within the limits: a count cap by
// object type and, for refreshes, at most DomainsPerRefresh domains per
// call. Paths are grouped by domain first so that few calls are needed.
// It mirrors the worker's batcher for a one-shot list (the worker's is not
// exported).
func splitBatches(req request, l worker.Limits) [][]string {
	size, domains := l.URLsPerRefresh, l.DomainsPerRefresh
	switch {
	case req.kind == jobs.KindPush:
		size, domains = l.URLsPerPush, 0
	case req.ot == apiclient.ObjectDirectory:
		size = l.DirsPerRefresh
	case req.ot == apiclient.ObjectRegex:
		size = l.RegexPerRefresh
	}
	paths := slices.Clone(req.paths)
	slices.SortStableFunc(paths, func(x, y string) int { return strings.Compare(jobs.Domain(x), jobs.Domain(y)) })
	var out [][]string
	var cur []string
	seen := map[string]bool{}
	for _, p := range paths {
		d := jobs.Domain(p)
		if len(cur) == size || (domains > 0 && !seen[d] && len(seen) == domains) {
			out = append(out, cur)
			cur, seen = nil, map[string]bool{}
		}
		cur = append(cur, p)
		seen[d] = true
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// followTasks polls DescribeRefreshTaskById until every task is Complete or
// Failed, or ctx ends.
func followTasks(ctx context.Context, api directAPI, ids []string, every time.Duration, prog *progress, sum *summary) error {
	status := make(map[string]apiclient.Task, len(ids))
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	sum.Pending = len(ids)
	for {
		for chunk := range slices.Chunk(ids, apiclient.MaxTaskIDsPerDescribe) {
			var open []string
			for _, id := range chunk {
				if t, ok := status[id]; !ok || !t.Done() {
					open = append(open, id)
				}
			}
			if len(open) == 0 {
				continue
			}
			res, err := api.DescribeRefreshTaskByID(ctx, open)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("follow tasks: %w (see them later with cdnpurge tasks --id)", err)
			}
			for _, t := range res.Tasks {
				// A task ID may stand for several paths: one status for all.
				status[t.TaskID] = mergeTask(t, res.Tasks)
			}
		}
		done, failed := 0, 0
		for _, id := range ids {
			if t, ok := status[id]; ok && t.Done() {
				done++
				if t.Status == apiclient.TaskFailed {
					failed++
				}
			}
		}
		prog.set("tasks done", done, len(ids), "tasks")
		if done == len(ids) {
			sum.Pending = 0
			sum.Completed = done - failed
			for _, id := range ids {
				if t := status[id]; t.Status == apiclient.TaskFailed {
					sum.fail("task "+id+" "+t.ObjectPath, or(t.Description, "failed"))
				}
			}
			return nil
		}
		sum.Pending = len(ids) - done
		sum.Completed = done - failed
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// mergeTask folds every row of one task ID in an answer into one status:
// Failed if any path failed, else not done while any path is not.
func mergeTask(t apiclient.Task, all []apiclient.Task) apiclient.Task {
	out := t
	for _, o := range all {
		if o.TaskID != t.TaskID {
			continue
		}
		switch {
		case o.Status == apiclient.TaskFailed:
			return o
		case !o.Done():
			out = o
		}
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
