package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/worker"
)

func (a *app) quota(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("quota", "",
		`Show today's refresh and push quota as the mirror holds it, for each product
that serves a domain of the config (cdn, and dcdn when a domains entry says
product: dcdn): total, remaining, reserved and committed per kind, the quota
day (Asia/Shanghai) and the last sync. --sync reads DescribeRefreshQuota
(DescribeDcdnRefreshQuota) first. Without redis.url the mirror is in this
process only, so it is always synced first.`,
		"  cdnpurge quota\n  cdnpurge quota --sync --output json", stderr)
	syncFirst := fs.Bool("sync", false, "read DescribeRefreshQuota into the mirror first")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("quota takes no arguments")
	}
	s, err := a.setup(stderr)
	if err != nil {
		return err
	}
	client, err := s.apiClient(nil)
	if err != nil {
		return err
	}
	if err := s.resolveESASites(ctx, client); err != nil {
		return err
	}
	var snaps []quota.Snapshot
	var shares []quota.ShareUsage
	var failed []error
	for _, p := range s.quotaTargets() {
		m, shared, closeStore, err := s.quotaMirror(client, p)
		if err != nil {
			return err
		}
		defer closeStore()
		if *syncFirst || !shared {
			if err := m.SyncNow(ctx); err != nil {
				// Show what the mirror holds (the failure included), then
				// fail: one target's outage does not hide the others.
				failed = append(failed, fmt.Errorf("sync %s quota: %w", p, err))
			}
		}
		snap, err := m.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("read %s quota mirror: %w", p, err)
		}
		snaps = append(snaps, snap)
		if p == apiclient.ProductCDN {
			sh, err := s.quotaShares(m)
			if err != nil {
				return err
			}
			if shares, err = sh.Usage(ctx); err != nil {
				return fmt.Errorf("read quota shares: %w", err)
			}
		}
	}
	if len(failed) == len(snaps) {
		return errors.Join(failed...) // nothing worth printing, as before
	}
	if err := a.writeQuota(ctx, s, snaps, shares, stdout); err != nil {
		return err
	}
	return errors.Join(failed...)
}

// quotaTargets are the products of the config's domains, cdn first; cdn
// alone when none is named.
func (s *setup) quotaTargets() []apiclient.Product {
	if ps := s.cfg.Products(); len(ps) > 0 {
		return ps
	}
	return []apiclient.Product{apiclient.ProductCDN}
}

// quotaMirror builds target p's quota mirror: its store (quotaStoreFor)
// fed from p's quota action. Every target's mirror shares the Redis
// client; close releases it.
func (s *setup) quotaMirror(client *apiclient.Client, p apiclient.Product) (m *quota.Mirror, shared bool, close func(), err error) {
	store, shared, close, err := s.quotaStoreFor(p)
	if err != nil {
		return nil, false, nil, err
	}
	return quota.NewMirror(store, client, s.cfg.MirrorConfig(s.log)), shared, close, nil
}

// quotaStoreFor is target p's quota store: Redis when redis.url is set,
// else memory, with keys of p's own (config QuotaOptionsFor). close
// releases the Redis client.
func (s *setup) quotaStoreFor(p apiclient.Product) (store quota.Store, shared bool, close func(), err error) {
	rdb, err := s.redisClient()
	if err != nil {
		return nil, false, nil, err
	}
	if rdb == nil {
		return quota.NewMemoryStore(s.cfg.QuotaOptionsFor(p)), false, func() {}, nil
	}
	if err := s.resolveAccount(); err != nil {
		return nil, false, nil, err
	}
	return quota.NewRedisStore(rdb, s.cfg.QuotaOptionsFor(p)), true, s.closeRedis, nil
}

// targetOf is the apiclient Target of a product of the config (which
// config check already limited to cdn and dcdn).
func targetOf(p apiclient.Product) apiclient.Target {
	t, err := apiclient.TargetOf(string(p))
	if err != nil {
		return apiclient.CDN()
	}
	return t
}

// purgeTargets builds, for each product of the config's domains, what the
// worker and purge --direct send with: the client bound to the product
// and the product's quota mirror. mirrors lists the mirrors, cdn first;
// close releases the stores.
func (s *setup) purgeTargets(client *apiclient.Client) (targets map[apiclient.Product]worker.TargetDeps, mirrors []*quota.Mirror, shared bool, close func(), err error) {
	targets = map[apiclient.Product]worker.TargetDeps{}
	var closers []func()
	close = func() {
		for _, c := range closers {
			c()
		}
	}
	for _, p := range s.quotaTargets() {
		m, sh, c, err := s.quotaMirror(client, p)
		if err != nil {
			close()
			return nil, nil, false, func() {}, err
		}
		closers = append(closers, c)
		shared = sh
		mirrors = append(mirrors, m)
		td := worker.TargetDeps{API: client, Gate: m, Syncer: m}
		if p == apiclient.ProductCDN {
			sh, err := s.quotaShares(m)
			if err != nil {
				close()
				return nil, nil, false, func() {}, err
			}
			if sh != nil {
				td.Shares = sh
			}
		}
		targets[p] = td
	}
	return targets, mirrors, shared, close, nil
}

// quotaShares applies quota.shares to CDN's mirror m, counted in Redis
// when one is configured (the replicas share the count), else in this
// process; nil when no share is configured.
func (s *setup) quotaShares(m *quota.Mirror) (*quota.Shares, error) {
	if len(s.cfg.Quota.Shares) == 0 {
		return nil, nil
	}
	rdb, err := s.redisClient()
	if err != nil {
		return nil, err
	}
	var counter quota.ShareCounter = quota.NewMemoryShareCounter()
	if rdb != nil {
		counter = quota.NewRedisShareCounter(rdb, s.cfg.Redis.KeyPrefix, s.cfg.QuotaAccount())
	}
	return quota.NewShares(s.cfg.Quota.Shares, counter, m, nil)
}

// productOf is the config's domain-to-product lookup, built once.
func (s *setup) productOf() (func(host string) apiclient.Product, error) {
	m, err := s.cfg.ProductMap()
	if err != nil {
		return nil, fmt.Errorf("domains: %w", err)
	}
	return m.ProductOf, nil
}

// writeQuota prints the snapshots, one per target, with the pauses in
// force.
func (a *app) writeQuota(ctx context.Context, s *setup, snaps []quota.Snapshot, shares []quota.ShareUsage, w io.Writer) error {
	ps, perr := s.readPauses(ctx)
	if a.g.output == "json" {
		v := quotaView(snaps)
		v.Shares = shareView(shares)
		if perr == nil {
			v.Pauses = pauseView(ps)
		}
		return writeJSON(w, v)
	}
	if err := writeQuotaTables(w, snaps); err != nil {
		return err
	}
	if err := writeShares(w, shares); err != nil {
		return err
	}
	return writePauses(w, ps, perr)
}
