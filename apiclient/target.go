package apiclient

import "context"

// TargetClient is a Client bound to one Target. Its methods have the names
// and signatures of the Client's CDN methods, so that code written against
// an interface of those (the worker's) takes a TargetClient for CDN or
// DCDN unchanged. On CDNTarget every method is the Client's own, domain
// pacing included; on DCDNTarget it calls the DCDN actions through the
// same signing, retries, calls/s limiter and a DCDN breaker of its own.
type TargetClient struct {
	c *Client
	t Target
}

// For returns c bound to target t.
func (c *Client) For(t Target) *TargetClient { return &TargetClient{c: c, t: t} }

// Target returns the target the client is bound to.
func (tc *TargetClient) Target() Target { return tc.t }

// RefreshObjectCaches refreshes paths on the target (RefreshObjectCaches
// or RefreshDcdnObjectCaches); see RefreshTarget.
func (tc *TargetClient) RefreshObjectCaches(ctx context.Context, r RefreshRequest) (RefreshResult, error) {
	return tc.c.RefreshTarget(ctx, tc.t, r)
}

// PushObjectCache prefetches paths on the target (PushObjectCache or
// PreloadDcdnObjectCaches).
func (tc *TargetClient) PushObjectCache(ctx context.Context, r PushRequest) (PushResult, error) {
	return tc.c.PushTarget(ctx, tc.t, r)
}

// DescribeRefreshTaskByID returns the target's tasks with the given IDs
// (DescribeRefreshTaskById or DescribeDcdnRefreshTaskById).
func (tc *TargetClient) DescribeRefreshTaskByID(ctx context.Context, ids []string) (TasksByID, error) {
	return tc.c.TasksByIDOf(ctx, tc.t, ids)
}

// DescribeRefreshQuota returns the target's daily quota
// (DescribeRefreshQuota or DescribeDcdnRefreshQuota).
func (tc *TargetClient) DescribeRefreshQuota(ctx context.Context) (RefreshQuota, error) {
	return tc.c.QuotaOf(ctx, tc.t)
}

// DescribeRefreshTasks lists the target's tasks (DescribeRefreshTasks or
// DescribeDcdnRefreshTasks, whose PageSize stops at 50).
func (tc *TargetClient) DescribeRefreshTasks(ctx context.Context, r DescribeTasksRequest) (TaskPage, error) {
	return tc.c.TasksOf(ctx, tc.t, r)
}
