package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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
	client, err := s.apiClient(nil)
	if err != nil {
		return sum, err
	}
	store, _, closeStore, err := s.quotaStore()
	if err != nil {
		return sum, err
	}
	defer closeStore()
	mirror := quota.NewMirror(store, client, s.cfg.MirrorConfig(s.log))
	batches := worker.Plan(groupKey(req), req.paths, s.cfg.WorkerConfig().Limits)
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
				sum.failPaths(failure{What: fmt.Sprintf("batch %d (%s, first %s)", i+1, plural(len(send), "path"), send[0]),
					Reason: err.Error(), Path: send[0]}, len(send))
				prog.set("submitted", sum.Submitted, sum.Paths, "paths")
				continue
			default:
				// Account, credentials, or retries used up: the rest would
				// fail the same way.
				sum.failPaths(failure{What: fmt.Sprintf("batch %d and the %d after it (%s)", i+1, len(batches)-i-1, plural(restLen(batches[i:]), "path")),
					Reason: err.Error()}, restLen(batches[i:]))
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

// groupKey is the worker's batch group of a request.
func groupKey(req request) worker.GroupKey {
	if req.kind == jobs.KindPush {
		return worker.GroupKey{Action: worker.ActionPush, Area: req.area, L2Preload: req.l2}
	}
	k := worker.GroupKey{Action: worker.ActionRefresh, ObjectType: req.ot}
	if req.force != nil && req.ot != apiclient.ObjectFile {
		k.Force = strconv.FormatBool(*req.force)
	}
	return k
}

// followTasks polls DescribeRefreshTaskById until every task is Complete or
// Failed, or ctx ends.
func followTasks(ctx context.Context, api directAPI, ids []string, every time.Duration, prog *progress, sum *summary) error {
	type outcome struct {
		status   string
		failures []jobs.Problem
	}
	status := make(map[string]outcome, len(ids))
	final := func(id string) bool {
		st := status[id].status
		return st == apiclient.TaskComplete || st == apiclient.TaskFailed
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	sum.Pending = len(ids)
	for {
		var open []string
		for _, id := range ids {
			if !final(id) {
				open = append(open, id)
			}
		}
		for chunk := range slices.Chunk(open, apiclient.MaxTaskIDsPerDescribe) {
			res, err := api.DescribeRefreshTaskByID(ctx, chunk)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("follow tasks: %w (see them later with cdnpurge tasks --id)", err)
			}
			rows := map[string][]apiclient.Task{}
			for _, t := range res.Tasks {
				rows[t.TaskID] = append(rows[t.TaskID], t)
			}
			// A task ID may stand for many URLs: one outcome for all.
			for id, r := range rows {
				st, failures := worker.TaskOutcome(r)
				status[id] = outcome{st, failures}
			}
		}
		done, failed := 0, 0
		for _, id := range ids {
			if final(id) {
				done++
				if status[id].status == apiclient.TaskFailed {
					failed++
				}
			}
		}
		prog.set("tasks done", done, len(ids), "tasks")
		sum.Pending = len(ids) - done
		sum.Completed = done - failed
		if done == len(ids) {
			sum.Failed = failed
			for _, id := range ids {
				for _, f := range status[id].failures {
					sum.failPaths(failure{What: "task " + id + " " + f.Path, Reason: f.Reason, Task: id, Path: f.Path}, 1)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
