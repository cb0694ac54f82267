package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota"
)

// target is one product's side of the pipeline: the API that takes its
// calls and the quota mirror that gates them.
type target struct {
	product apiclient.Product
	// t is the product's API description, passed with every call.
	t    apiclient.Target
	api  API
	gate Gate
	// syncer may be nil.
	syncer Syncer
	// shares may be nil.
	shares ShareGate
	// lastResync is when the quota was last re-read because it ran out.
	lastResync atomic.Int64
}

// newTargets builds each product's target from its deps, refusing one
// without an API client or a quota gate. The service (New) and purge
// --direct (SendDirect) both build theirs here.
func newTargets(deps map[apiclient.Product]TargetDeps) (map[apiclient.Product]*target, error) {
	targets := make(map[apiclient.Product]*target, len(deps))
	for p, td := range deps {
		if td.API == nil || td.Gate == nil {
			return nil, fmt.Errorf("target %s: no API client or quota gate", p)
		}
		t, err := apiclient.TargetOf(string(p))
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", p, err)
		}
		targets[p] = &target{product: p, t: t, api: td.API, gate: td.Gate, syncer: td.Syncer, shares: td.Shares}
	}
	return targets, nil
}

// submitter gates batches on their target's quota and sends them. It
// never acknowledges, hands back or publishes anything itself: every
// batch it is given ends, in parts or whole, in an outcome passed to out
// (the settle step), so nothing is dropped.
type submitter struct {
	submitterParams
	line       *gateLine      // the order in which waiting batches get quota
	domainWait *domainBackoff // the backoff of each stopped domain
	cal        quota.Calendar
	// parked counts the batches waiting for quota off a submitter, and
	// those waiting for another replica's call (awaitCover).
	parked sync.WaitGroup
	// awaiting counts the paths waiting for another replica's call.
	awaiting atomic.Int64
}

// submitterParams are a submitter's dependencies.
type submitterParams struct {
	cfg     Config
	targets map[apiclient.Product]*target
	hold    operatorHold
	ledger  *ledger
	now     func() time.Time // the worker's clock (Deps.Now): quota days, the ends of waits
	metrics *Metrics
	log     *slog.Logger
	// park moves a batch that must wait for quota off its submitter
	// (gate).
	park bool
	// holdFor is how long a batch waits in memory for quota before it is
	// handed back: Config.QuotaHold in the service, 0 for purge --direct,
	// which reports what waits instead.
	holdFor time.Duration
	// stop is closed when the worker stops taking work: waits end.
	stop <-chan struct{}
	// out is the next stage: what became of each batch goes there.
	out outcomes
	// line is the gate line, shared with the batcher; a new one when nil.
	line *gateLine
	// claims, if not nil, is the record shared by replicas in which each
	// call claims its paths before it is sent (claims.go); owner names
	// this replica there.
	claims claimer
	owner  string
}

func newSubmitter(p submitterParams) *submitter {
	line := p.line
	if line == nil {
		line = newGateLine()
	}
	return &submitter{submitterParams: p, line: line, domainWait: newDomainBackoff(),
		cal: quota.Calendar{Location: p.cfg.Location}}
}

// outcomes takes what became of each path of a batch: the settle step in
// the service (*settler), the report of purge --direct (*DirectReport).
type outcomes interface {
	settleBatch(ctx context.Context, b *batch, o outcome)
}

// quotaKind is the quota a batch spends. DCDN sends an ExQuery refresh as
// IgnoreParams, which its quota counts apart from URLs
// (RefreshDcdnObjectCaches, DescribeDcdnRefreshQuota).
func quotaKind(k GroupKey) quota.Kind {
	switch {
	case apiclient.BaseProduct(k.product()) == apiclient.ProductESA && k.Action == ActionRefresh:
		// Each ESA purge type has its own quota on the site's mirror.
		return quota.KindForESA(k.ObjectType)
	case k.Action == ActionPush:
		return quota.KindForPush()
	case k.product() == apiclient.ProductDCDN && k.ObjectType == apiclient.ObjectExQuery:
		return quota.KindIgnoreParams
	case k.ObjectType == apiclient.ObjectCacheTag:
		return tagQuotaKind
	}
	return quota.KindForRefresh(k.ObjectType)
}

// poolOf is the target quota a batch spends.
func poolOf(k GroupKey) quotaPool { return quotaPool{target: k.product(), kind: quotaKind(k)} }

// handBack defers every path of b until until.
func (s *submitter) handBack(ctx context.Context, b *batch, until time.Time, reason string) {
	if b.Len() > 0 {
		s.out.settleBatch(ctx, b, outcome{kind: deferred, until: until, reason: reason})
	}
}

// submit gates b on its target's quota and sends it, in parts if only
// part of it is granted. Whatever cannot be sent is handed back.
func (s *submitter) submit(ctx context.Context, b *batch) {
	tg := s.targets[b.Key.product()]
	if tg == nil {
		// Intake routes only to configured targets; a batch of another
		// product is a wiring bug, and its paths wait rather than vanish.
		s.log.Error("no API configured for the batch's product; its jobs are handed back",
			slog.String("product", string(b.Key.product())), slog.Int("paths", b.Len()))
		if b.counted {
			s.line.addUnsent(poolOf(b.Key), b.rank(), -b.Len())
		}
		s.handBack(ctx, b, s.now().Add(s.cfg.RetryDelay), fmt.Sprintf("no %s API configured on this replica", b.Key.product()))
		return
	}
	pool := poolOf(b.Key)
	st := &gateState{pool: pool, place: s.line.ticket(pool, b.rank())}
	if b.counted {
		st.unsent = b.Len()
	}
	s.gate(ctx, tg, b, st, s.park)
}

// reserve asks tg's quota for n units for a batch of pool and rank, but
// leaves what the more urgent unsent paths in memory need: with u of them,
// it gets what is left beyond u, up to n (nothing when that is all).
// Without urgent paths it is one Reserve, with them a probe for n+u that
// is given back at once, then a Reserve of what the probe left over.
// kept reports a refusal because the quota left is kept for the more
// urgent paths: the quota is not spent, so it is no reason to re-sync.
func (s *submitter) reserve(ctx context.Context, tg *target, pool quotaPool, rank int, n int64) (res quota.Reservation, kept bool, err error) {
	ahead := s.line.unsentAhead(pool, rank)
	if ahead == 0 {
		res, err = tg.gate.Reserve(ctx, pool.kind, n)
		return res, false, err
	}
	probe, err := tg.gate.Reserve(ctx, pool.kind, n+ahead)
	if err != nil || probe.Granted == 0 {
		return probe, false, err
	}
	if err := tg.gate.Refund(ctx, probe); err != nil {
		return quota.Reservation{}, false, err
	}
	spare := probe.Granted - ahead
	if spare <= 0 {
		return quota.Reservation{}, true, nil
	}
	res, err = tg.gate.Reserve(ctx, pool.kind, min(n, spare))
	return res, false, err
}

// gateState is where one batch stands at the gate, kept across the move
// from a submitter to a waiting goroutine.
type gateState struct {
	pool      quotaPool
	place     *lineTicket
	waitStart time.Time
	// unsent is how many of the batch's paths the line counts as unsent.
	unsent int
	held   int // paths of the batch counted as waiting in memory
	// pauseNoted is set once the batch's jobs were reported held by an
	// operator pause.
	pauseNoted bool
	// yielded is set while the batch gives way to more urgent work that
	// waited for the same quota reset (yieldToUrgent); back is when that
	// work was all delivered again.
	yielded bool
	back    time.Time
}

// pauseNoter is an outcomes that reports the jobs of a batch an operator
// pause holds in memory (the settle step publishes a deferred event).
type pauseNoter interface {
	heldByPause(b *batch, until time.Time, reason string)
}

// gate is the loop of one batch at the gate. When the batch must wait for
// quota and mayPark is set, it moves to a goroutine of its own (parked)
// and the submitter goes on with the next batch: a batch waiting for one
// target's quota (DCDN's spent) must not hold up the batches of another
// (CDN's) that have quota.
func (s *submitter) gate(ctx context.Context, tg *target, b *batch, st *gateState, mayPark bool) {
	moved := false
	defer func() {
		if moved {
			return // the parked goroutine owns the place now
		}
		s.ledger.holdForQuota(st.pool, st.held, 0)
		s.line.leave(st.place)
		s.line.addUnsent(st.pool, st.place.rank, -st.unsent)
		st.unsent = 0
	}()
	for b.Len() > 0 {
		resumed := s.hold.changed() // taken before the look, so no change is missed
		gone, held := s.hold.check(ctx, b)
		if gone != nil {
			s.out.settleBatch(ctx, gone, outcome{kind: rejected, reason: cancelReason})
		}
		if b.Len() == 0 {
			return
		}
		if held.held() && resumed != nil && s.holdFor > 0 {
			// Held in memory (its messages kept in progress) until the
			// pause changes, so that a resume sends it at once.
			if !st.pauseNoted {
				st.pauseNoted = true
				if n, ok := s.out.(pauseNoter); ok {
					n.heldByPause(b, held.until, held.reason)
				}
			}
			if mayPark {
				moved = true
				s.parked.Go(func() { s.gate(ctx, tg, b, st, false) })
				return
			}
			if !sleep(ctx, s.stop, resumed, nil, held.recheck.Sub(s.now())) {
				s.handBack(ctx, b, s.now().Add(time.Second), "worker stopping")
				return
			}
			continue
		}
		if held.held() {
			s.out.settleBatch(ctx, b, outcome{kind: deferred, until: held.until, recheck: held.recheck, reason: held.reason})
			return
		}
		// now times the hold (real clock); at is the worker's clock, on
		// which the ends of waits are given.
		now, at := time.Now(), s.now()
		if until, reason := s.ledger.pausedUntil(); at.Before(until) {
			s.handBack(ctx, b, until, "submissions paused: "+reason)
			return
		}
		if s.yieldToUrgent(st, at, now) {
			// Not waiting for quota: the hold starts once the urgent work
			// went first.
			st.waitStart = time.Time{}
			if mayPark {
				moved = true
				s.parked.Go(func() { s.gate(ctx, tg, b, st, false) })
				return
			}
			if !sleep(ctx, s.stop, nil, s.line.changes(), s.cfg.QuotaPoll) {
				s.handBack(ctx, b, s.now().Add(time.Second), "worker stopping")
				return
			}
			continue
		}
		if st.waitStart.IsZero() {
			st.waitStart = now
		}
		// Taken before asking, so that a sync finishing meanwhile still
		// wakes the wait below.
		wake, changed := synced(tg.syncer), s.line.changes()
		var res quota.Reservation
		var err error
		kept := false
		var share quota.ShareTake
		myTurn := s.line.turn(st.place)
		if myTurn && b.Key.Share != "" && tg.shares != nil {
			share, err = tg.shares.Take(ctx, b.Key.Share, int64(b.Len()))
			if err == nil && share.Granted == 0 {
				until := s.cal.NextReset(at)
				reason := fmt.Sprintf("source %s spent its share of today's %s quota (%s: %d)", share.Source, st.pool, share.Percent, share.Limit)
				s.log.Info("batch waits for its source's quota share; handing its jobs back", slog.String("group", b.Key.String()),
					slog.Int("paths", b.Len()), slog.String("reason", reason), slog.Time("until", until))
				s.out.settleBatch(ctx, b, outcome{kind: deferred, until: until, recheck: at.Add(s.untilReset()), reason: reason, quota: st.pool})
				return
			}
		}
		if myTurn && err == nil {
			want := int64(b.Len())
			if share.Share != "" {
				want = share.Granted
			}
			res, kept, err = s.reserve(ctx, tg, st.pool, st.place.rank, want)
			if share.Share != "" {
				s.giveShare(ctx, tg, share, share.Granted-max(0, res.Granted))
				share.Granted = min(share.Granted, res.Granted)
			}
		}
		if err == nil && res.Granted > 0 {
			st.waitStart = time.Time{}
			st.held = s.ledger.holdForQuota(st.pool, st.held, 0)
			s.line.leave(st.place)
			part := b
			if int(res.Granted) < b.Len() {
				part = b.take(int(res.Granted))
			} else {
				b = newBatch(b.Key, b.opened)
			}
			sent := min(part.Len(), st.unsent)
			s.line.addUnsent(st.pool, st.place.rank, -sent)
			st.unsent -= sent
			s.send(ctx, tg, part, res, share)
			continue
		}
		if err == nil && res.ID != "" {
			_ = tg.gate.Refund(ctx, res)
		}
		if myTurn && err == nil && !kept && s.resyncWhenSpent(ctx, tg) {
			// The mirror was just re-read: ask again before waiting, so
			// that quota the sync found is used now, not after a hand-back.
			continue
		}
		// The wait ends when the quota resets (00:00 Asia/Shanghai); the
		// job is looked at again sooner (DeferMax) in case quota appears.
		reason := fmt.Sprintf("no %s quota left today", st.pool)
		until, recheck := s.cal.NextReset(at), at.Add(s.untilReset())
		if err != nil {
			reason = "quota mirror: " + err.Error()
			until = at.Add(s.cfg.RetryDelay)
			recheck = until
		}
		st.held = s.ledger.holdForQuota(st.pool, st.held, b.Len())
		s.line.wait(st.place)
		select {
		case <-s.stop:
			s.handBack(ctx, b, at.Add(time.Second), "worker stopping")
			return
		default:
		}
		if now.Sub(st.waitStart) >= s.holdFor {
			s.log.Info("batch waits for quota; handing its jobs back", slog.String("group", b.Key.String()),
				slog.Int("paths", b.Len()), slog.String("reason", reason), slog.Time("until", until), slog.Time("recheck_at", recheck))
			s.out.settleBatch(ctx, b, outcome{kind: deferred, until: until, recheck: recheck, reason: reason, quota: st.pool})
			return
		}
		if mayPark {
			moved = true
			s.parked.Go(func() { s.gate(ctx, tg, b, st, false) })
			return
		}
		if !sleep(ctx, s.stop, wake, changed, s.cfg.QuotaPoll) {
			s.handBack(ctx, b, s.now().Add(time.Second), "worker stopping")
			return
		}
	}
}

// yieldToUrgent reports whether a batch must give way to more urgent work
// of its quota that was handed back until a quota reset that has come (at,
// the worker's clock): it goes first once the quota is back. JetStream
// redelivers every job handed back until the reset at about the same
// moment, the urgent stream is pulled first, but a normal job due a moment
// earlier (the 1 s floor of a hand-back's delay, a timer, another replica's
// hand-back) or a normal batch waiting in memory would otherwise take the
// reset's quota, the calls and the domains' windows first. The batch
// waits while those jobs are due back (wall, the real clock) and not here
// yet, then while the more urgent paths in memory are unsent, for at most
// the quota hold and the linger after they came back.
func (s *submitter) yieldToUrgent(st *gateState, at, now time.Time) bool {
	if st.place.rank == 0 {
		return false
	}
	if s.ledger.urgentComingBack(st.pool, st.place.rank, at, now, s.isReset) > 0 {
		st.yielded, st.back = true, time.Time{}
		return true
	}
	if !st.yielded {
		return false
	}
	if st.back.IsZero() {
		st.back = now
	}
	if now.Sub(st.back) < s.holdFor+s.cfg.Linger && s.line.unsentAhead(st.pool, st.place.rank) > 0 {
		return true
	}
	st.yielded = false
	return false
}

// isReset reports whether t is a quota reset (00:00 Asia/Shanghai).
func (s *submitter) isReset(t time.Time) bool {
	return s.cal.NextReset(t.Add(-time.Nanosecond)).Equal(t)
}

// resyncWhenSpent re-reads tg's quota, at most once per QuotaHold, when
// the mirror has none left: a sync that raced with commits subtracts them
// twice (it errs on the safe side), and without this the units it held
// back would stay idle until the next timed sync.
// It reports whether it re-read the quota.
func (s *submitter) resyncWhenSpent(ctx context.Context, tg *target) bool {
	if tg.syncer == nil {
		return false
	}
	now := time.Now().UnixNano()
	last := tg.lastResync.Load()
	if now-last < int64(s.cfg.QuotaHold) || !tg.lastResync.CompareAndSwap(last, now) {
		return false
	}
	// A stop ends the wait: the re-sync may wait for the API's rate
	// limit (GetPurgeQuota allows few calls), and the batch is handed
	// back at once anyway.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := tg.syncer.SyncNow(ctx); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("quota re-sync", slog.String("product", string(tg.product)), slog.String("error", err.Error()))
		}
		return false
	}
	return true
}

// syncNotifier is a Syncer that says when a sync read the quota anew;
// quota.Mirror is one.
type syncNotifier interface {
	Synced() <-chan struct{}
}

// synced returns a channel closed by the next successful quota sync, or
// nil (never ready) when the Syncer cannot tell.
func synced(s Syncer) <-chan struct{} {
	if n, ok := s.(syncNotifier); ok {
		return n.Synced()
	}
	return nil
}

// untilReset is how long a job that found no quota waits before it is
// looked at again: until the quota day ends on the calendar clock, or less
// (DeferMax) in case more quota appears.
func (s *submitter) untilReset() time.Duration {
	now := s.now()
	return min(s.cal.NextReset(now).Sub(now), s.cfg.DeferMax)
}

// sleep waits d, or less when wake or moved is closed; it reports false
// when ctx ends or stop is closed first.
func sleep(ctx context.Context, stop, wake, moved <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	case <-wake:
		return true
	case <-moved:
		return true
	case <-t.C:
		return true
	}
}

// send makes the API call of b under reservation res and steers on the
// answer.
func (s *submitter) send(ctx context.Context, tg *target, b *batch, res quota.Reservation, share quota.ShareTake) {
	// From sentAt on a request for one of b's paths is a new refresh: the
	// file may change after this call. One asked before joins b's entries:
	// they stay in the batched index until they are in flight, so a copy
	// that reaches the batcher meanwhile (during the claim) always finds
	// one of the two.
	b.sentAt = time.Now()
	all := b
	var wait *batch
	if s.claims != nil {
		// Paths another replica's call covers wait for it.
		b, wait = s.claim(ctx, b)
	}
	s.ledger.flying(b, b.sentAt)
	s.ledger.sent(all)
	if wait != nil && wait.Len() > 0 {
		s.awaitCovers(ctx, wait)
	}
	if b.Len() == 0 {
		// Another replica's calls cover every path: nothing is sent and
		// the reservation goes back.
		s.giveBack(ctx, tg, res, share)
		return
	}
	defer s.keepReserved(ctx, tg.gate, res)()
	start := time.Now()
	paths := b.Paths()
	var taskIDs []string
	var requestID string
	var err error
	switch {
	case b.Key.Action == ActionPush:
		var r apiclient.PushResult
		r, err = tg.api.Push(ctx, tg.t, apiclient.PushRequest{Paths: paths, Area: b.Key.Area,
			L2Preload: b.Key.L2Preload, WithHeader: b.Key.WithHeader, QueryHashkey: b.Key.QueryHashkey})
		taskIDs, requestID = r.TaskIDs, r.RequestID
	case b.Key.ObjectType == apiclient.ObjectCacheTag:
		var r apiclient.RefreshResult
		r, err = sendTags(ctx, tg, b)
		taskIDs, requestID = r.TaskIDs, r.RequestID
	default:
		req := apiclient.RefreshRequest{Paths: paths, ObjectType: b.Key.ObjectType, Force: b.Key.Force.param()}
		if b.Key.Headers != "" {
			_ = json.Unmarshal([]byte(b.Key.Headers), &req.Headers) // made by keyOf from a map
		}
		var r apiclient.RefreshResult
		r, err = tg.api.Refresh(ctx, tg.t, req)
		taskIDs, requestID = r.TaskIDs, r.RequestID
	}
	s.metrics.call(b, err, time.Since(start))
	if err == nil {
		if cErr := tg.gate.Commit(ctx, res, int64(len(paths))); cErr != nil {
			s.log.Warn("commit quota reservation", slog.String("error", cErr.Error()))
		}
		s.giveShare(ctx, tg, share, share.Granted-int64(len(paths))) // paths another call covers
		s.log.Debug("batch accepted", slog.String("group", b.Key.String()), slog.Int("paths", b.Len()),
			slog.String("request_id", requestID), slog.Int("tasks", len(taskIDs)))
		s.domainWait.ok(b)
		s.out.settleBatch(ctx, b, outcome{kind: accepted, reqID: requestID, tasks: taskIDs})
		return
	}
	s.giveBack(ctx, tg, res, share)
	if s.claims != nil {
		if uErr := s.claims.Unclaim(ctx, b.Key.String(), paths, b.sentAt, s.owner); uErr != nil {
			s.log.Warn("release claims of a failed call", slog.String("error", uErr.Error()))
		}
	}
	s.failed(ctx, tg, b, err)
}

// giveBack returns the reservation and the share of a call that spent
// nothing (not sent, or refused).
func (s *submitter) giveBack(ctx context.Context, tg *target, res quota.Reservation, share quota.ShareTake) {
	if rErr := tg.gate.Refund(ctx, res); rErr != nil && !errors.Is(rErr, quota.ErrUnknownReservation) {
		s.log.Warn("refund quota reservation", slog.String("error", rErr.Error()))
	}
	s.giveShare(ctx, tg, share, share.Granted)
}

// giveShare returns n units of share that a call did not spend.
func (s *submitter) giveShare(ctx context.Context, tg *target, share quota.ShareTake, n int64) {
	if share.Share == "" || tg.shares == nil || n <= 0 {
		return
	}
	if err := tg.shares.Give(ctx, share, n); err != nil {
		s.log.Warn("give back quota share", slog.String("error", err.Error()))
	}
}

// keepReserved extends res while its call runs, so that a call slower than
// the reservation's TTL (retries, a slow API) does not have its units
// handed to another replica before it commits. The returned func stops it.
func (s *submitter) keepReserved(ctx context.Context, gate Gate, res quota.Reservation) func() {
	ttl := res.Expires.Sub(s.now())
	if ttl <= 0 {
		ttl = quota.DefaultReservationTTL
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := gate.Extend(ctx, res, ttl); err != nil && !errors.Is(err, quota.ErrUnknownReservation) {
					s.log.Warn("extend quota reservation", slog.String("error", err.Error()))
				}
			}
		}
	}()
	return func() { close(done) }
}

// failed carries out the fate of a refused or failed call (decideCall).
func (s *submitter) failed(ctx context.Context, tg *target, b *batch, err error) {
	f := decideCall(failedCall{err: err, product: tg.product, paths: b.Len(), domains: b.Domains(),
		domain: b.entries[0].domain, path: b.entries[0].path, now: s.now(), stopping: ctx.Err() != nil, cfg: s.cfg,
		domainDelay: func(d string) time.Duration { return s.domainWait.next(d, s.cfg.RetryDelay, s.cfg.DeferMax) }})
	log := s.log.With(slog.String("group", b.Key.String()), slog.Int("paths", b.Len()),
		slog.String("verdict", f.verdict.String()), slog.String("code", apiclient.Code(err)), slog.String("error", err.Error()))
	if f.note != "" {
		log.Log(ctx, f.level, f.note, f.attrs...)
	}
	if f.resync && tg.syncer != nil {
		if sErr := tg.syncer.SyncNow(ctx); sErr != nil {
			log.Warn("quota re-sync failed", slog.String("sync_error", sErr.Error()))
		}
	}
	if !f.pauseUntil.IsZero() {
		s.ledger.pauseUntil(f.pauseUntil, err.Error())
	}
	switch f.split {
	case splitByDomain:
		for _, part := range b.byDomain() {
			s.submit(ctx, part)
		}
	case splitHalves:
		left, right := b.split()
		s.submit(ctx, left)
		s.submit(ctx, right)
	default:
		s.out.settleBatch(ctx, b, f.outcome)
	}
}

// productName is the product as people write it.
func productName(p apiclient.Product) string {
	if p == apiclient.ProductDCDN {
		return "DCDN"
	}
	return "CDN"
}
