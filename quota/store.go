package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Errors a Store returns; test with errors.Is.
var (
	// ErrUnavailable: the store (Redis) could not be reached. Nothing was
	// granted; the caller waits and tries again (fail closed).
	ErrUnavailable = errors.New("quota store unavailable")
	// ErrNotSynced: the current quota day has not been synced from
	// DescribeRefreshQuota yet (a new day, or a store that lost its data).
	// Nothing was granted; the Mirror syncs and the caller tries again.
	ErrNotSynced = errors.New("quota day not synced from DescribeRefreshQuota yet")
	// ErrUnknownReservation: the reservation was already committed or
	// refunded, or never existed. A Refund may ignore it.
	ErrUnknownReservation = errors.New("unknown or already settled quota reservation")
)

// DefaultReservationTTL is how long a reservation stays out before it is
// returned to the remaining quota, unless committed, refunded or extended.
const DefaultReservationTTL = 2 * time.Minute

// DefaultPrefix starts every Redis key of the quota mirror.
const DefaultPrefix = "cdnpurge:quota:"

// Store is the quota mirror the replicas reserve from.
type Store interface {
	// Reserve takes up to n units of kind; Granted may be less than n,
	// down to 0 when nothing remains.
	Reserve(ctx context.Context, kind Kind, n int64) (Reservation, error)
	// Commit settles a reservation whose call the API accepted: used units
	// are spent, Granted-used go back to the remaining quota.
	Commit(ctx context.Context, r Reservation, used int64) error
	// Refund returns all of a reservation whose call spent nothing.
	Refund(ctx context.Context, r Reservation) error
	// Extend moves a reservation's deadline to d from now, for a call that
	// takes long.
	Extend(ctx context.Context, r Reservation, d time.Duration) error
	// Snapshot returns the mirrored values of the current day.
	Snapshot(ctx context.Context) (Snapshot, error)
	// Mark records the commit counters before DescribeRefreshQuota is read,
	// so that Set can subtract commits made after the read.
	Mark(ctx context.Context) (SyncMark, error)
	// Set makes the current day's mirror the API's answer q, less what is
	// reserved and not committed, less what was committed since mark.
	Set(ctx context.Context, q apiclient.RefreshQuota, mark SyncMark) error
	// RecordSyncError notes that a sync failed; Snapshot reports it.
	RecordSyncError(ctx context.Context, syncErr error) error
	// TryLock takes the account's sync lock for ttl unless another holder
	// has it; unlock releases it only while it is still ours.
	TryLock(ctx context.Context, ttl time.Duration) (unlock func(context.Context) error, ok bool, err error)
	// Calendar tells the store's quota days.
	Calendar() Calendar
	// Target is the product whose quota the store mirrors.
	Target() apiclient.Product
}

// Reservation is quota taken out of the mirror and not yet settled.
type Reservation struct {
	// ID is empty when nothing was granted.
	ID   string
	Kind Kind
	// Requested is what the caller asked for; Granted (0..Requested) what it
	// got. The caller may shrink its batch to Granted, or Refund at once to
	// get all or nothing.
	Requested int64
	Granted   int64
	// Day is the quota day the units were taken from.
	Day string
	// Expires is when the reservation is returned unless settled or
	// extended; do not start a call after it.
	Expires time.Time
}

// KindSnapshot is one kind's mirrored values.
type KindSnapshot struct {
	Kind Kind
	// Total is the daily quota the API reported.
	Total int64
	// Remaining can still be reserved.
	Remaining int64
	// Reserved is out in reservations not yet committed or refunded.
	Reserved int64
	// Committed was spent today through this mirror.
	Committed int64
	// Expired counts units returned because their reservation expired.
	Expired int64
}

// Snapshot is the mirror of one account, target and quota day.
type Snapshot struct {
	Account string
	// Target is the product whose quota this is (cdn or dcdn).
	Target apiclient.Product
	Day    string
	// Synced is false until the day was set from DescribeRefreshQuota.
	Synced   bool
	LastSync time.Time
	// SyncError is the last sync failure after LastSync, if any.
	SyncError string
	Kinds     []KindSnapshot
}

// Get returns kind k's values (zero when the API did not report k).
func (s Snapshot) Get(k Kind) KindSnapshot {
	for _, ks := range s.Kinds {
		if ks.Kind == k {
			return ks
		}
	}
	return KindSnapshot{Kind: k}
}

// SyncMark holds, per quota day, the commit counters taken before a
// DescribeRefreshQuota read. The zero SyncMark subtracts no commits: Set then
// trusts the API answer as of now.
type SyncMark struct {
	Committed map[string]map[Kind]int64
}

func (m SyncMark) valid() bool { return m.Committed != nil }

func (m SyncMark) get(day string, k Kind) int64 { return m.Committed[day][k] }

// Options configure a store.
type Options struct {
	// Prefix starts every Redis key; DefaultPrefix when empty.
	Prefix string
	// Account names the CDN account: its AccessKeyId or a configured name.
	// Replicas of one account must agree on it.
	Account string
	// Target is the product whose quota the store mirrors, one of
	// Targets(); empty is apiclient.ProductCDN. Each target has a mirror
	// of its own (its own Redis keys); CDN's keys are those of the
	// versions before DCDN was a target, so existing state carries over.
	Target apiclient.Product
	// Location is the zone of the quota day; Asia/Shanghai when nil.
	Location *time.Location
	// ReservationTTL is DefaultReservationTTL when zero.
	ReservationTTL time.Duration
	// Now is time.Now when nil.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Account == "" {
		o.Account = "default"
	}
	if o.Target == "" {
		o.Target = apiclient.ProductCDN
	}
	if !ValidTarget(o.Target) {
		// A programming error: config refuses any other product.
		panic(fmt.Sprintf("quota: unknown target %q: want one of %v", o.Target, Targets()))
	}
	if o.Location == nil {
		o.Location = DefaultLocation()
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Targets returns the products a quota store can mirror, in the order the
// CLI and the metrics list them. The set is fixed: it is a metric label.
func Targets() []apiclient.Product {
	return []apiclient.Product{apiclient.ProductCDN, apiclient.ProductDCDN}
}

// ValidTarget reports whether p is one of Targets().
//
// An ESA site's target, "esa:<SiteId>" (apiclient.ESASiteProduct), is valid
// too: each site has its own quota per purge type.
func ValidTarget(p apiclient.Product) bool {
	if apiclient.BaseProduct(p) == apiclient.ProductESA && p != apiclient.ProductESA {
		_, err := apiclient.TargetOf(string(p)) // "esa:<SiteId>"
		return err == nil
	}
	return slices.Contains(Targets(), p)
}

// keyExpiry is when the keys of the day holding t may go: two days after
// the day is over, so late commits and the next day's sync still see them.
func keyExpiry(c Calendar, t time.Time) time.Time { return c.NextReset(t).Add(48 * time.Hour) }

func checkReserve(kind Kind, n int64) error {
	if !kind.Valid() {
		return fmt.Errorf("reserve: %w", errInvalidKind(kind))
	}
	if n < 0 {
		return fmt.Errorf("reserve %d %s: n must be >= 0", n, kind)
	}
	return nil
}

func checkCommit(r Reservation, used int64) error {
	if used < 0 || used > r.Granted {
		return fmt.Errorf("commit reservation %s: used %d must be between 0 and granted %d", r.ID, used, r.Granted)
	}
	return nil
}

func errInvalidKind(k Kind) error {
	_, err := ParseKind(string(k))
	return err
}

func newReservationID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ms(t time.Time) int64 { return t.UnixMilli() }
