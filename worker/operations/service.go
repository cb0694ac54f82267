package operations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// StatusAPI is what ServiceChecker needs of the API client: the service
// state of a target (CDN's DescribeCdnService, DCDN's
// DescribeDcdnIpaService); *apiclient.Client satisfies it.
type StatusAPI interface {
	DescribeService(ctx context.Context, t apiclient.Target) (apiclient.ServiceStatus, error)
}

// Pauser stops and restarts purge submissions; *worker.Worker satisfies it.
type Pauser interface {
	Pause(until time.Time, reason string)
	Resume()
}

// Service labels of the checker's metrics.
const (
	ServiceCDN     = "cdn"
	ServiceDCDNIPA = "dcdn_ipa"
)

// CheckerConfig configures a ServiceChecker.
type CheckerConfig struct {
	// Interval between checks; default 1m.
	Interval time.Duration
	// IPA also checks DescribeDcdnIpaService (metrics and logs only: purges
	// are CDN calls).
	IPA bool
	// PauseFor is how long one pause lasts; every check that still finds
	// the lock renews it, so a checker that stops checking cannot leave
	// purges paused for ever. Default 3 × Interval.
	PauseFor time.Duration
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now and After are the clock; time.Now and time.After when nil.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// ServiceChecker periodically reads the service state: a financial lock
// pauses purge submissions until a later check finds it lifted; locks,
// billing method and pending billing changes are exported as metrics.
type ServiceChecker struct {
	api     StatusAPI
	pauser  Pauser
	cfg     CheckerConfig
	log     *slog.Logger
	metrics checkerMetrics
	mu      sync.Mutex
	pause   bool // this checker paused submissions
	seen    map[string]map[string]bool
}

type checkerMetrics struct {
	locked        *prometheus.GaugeVec
	billing       *prometheus.GaugeVec
	pending       *prometheus.GaugeVec
	pendingAt     *prometheus.GaugeVec
	errors        *prometheus.CounterVec
	lastCheck     *prometheus.GaugeVec
	purgesPaused  prometheus.Gauge
	allCollectors []prometheus.Collector
}

func newCheckerMetrics() checkerMetrics {
	m := checkerMetrics{
		locked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_service_locked",
			Help: "1 while DescribeCdnService (or DescribeDcdnIpaService) reports an operation lock, by service and reason."}, []string{"service", "reason"}),
		billing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_service_billing_method",
			Help: "1 for the billing method in force, by service and method."}, []string{"service", "method"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_service_billing_change_pending",
			Help: "1 while a billing change is pending, by service and the method it changes to."}, []string{"service", "method"}),
		pendingAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_service_billing_change_effective_timestamp_seconds",
			Help: "When the pending billing change takes effect (Unix seconds), 0 when none is pending."}, []string{"service"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cdnpurge_service_check_errors_total",
			Help: "Service checks that could not read the service state, by service."}, []string{"service"}),
		lastCheck: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cdnpurge_service_last_check_timestamp_seconds",
			Help: "When the service state was last read successfully (Unix seconds), by service."}, []string{"service"}),
		purgesPaused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cdnpurge_service_purges_paused",
			Help: "1 while the service check holds purge submissions because of a financial lock."}),
	}
	m.allCollectors = []prometheus.Collector{m.locked, m.billing, m.pending, m.pendingAt, m.errors, m.lastCheck, m.purgesPaused}
	return m
}

// NewServiceChecker returns a checker of api that pauses p (which may be
// nil: metrics and logs only).
func NewServiceChecker(api StatusAPI, p Pauser, cfg CheckerConfig) (*ServiceChecker, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.PauseFor <= 0 {
		cfg.PauseFor = 3 * cfg.Interval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	c := &ServiceChecker{api: api, pauser: p, cfg: cfg, log: cfg.Logger, metrics: newCheckerMetrics(), seen: map[string]map[string]bool{}}
	if cfg.Registerer != nil {
		for _, col := range c.metrics.allCollectors {
			if err := cfg.Registerer.Register(col); err != nil {
				return nil, fmt.Errorf("register service check metrics (one ServiceChecker per registry): %w", err)
			}
		}
	}
	// Alerts on the lock need a series before the first lock.
	c.metrics.locked.WithLabelValues(ServiceCDN, apiclient.LockReasonFinancial).Set(0)
	return c, nil
}

// Run checks at once and then every Interval until ctx ends. Failed checks
// are logged and counted; the next one is tried as usual.
func (c *ServiceChecker) Run(ctx context.Context) error {
	for {
		if err := c.Check(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("service check failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.After(c.cfg.Interval):
		}
	}
}

// Paused reports whether this checker holds purge submissions.
func (c *ServiceChecker) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pause
}

// Check reads the service state once, pauses or resumes submissions and
// updates the metrics. It returns the errors of the reads.
func (c *ServiceChecker) Check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	st, err := c.api.DescribeService(ctx, apiclient.CDN())
	if err != nil {
		c.metrics.errors.WithLabelValues(ServiceCDN).Inc()
		errs = append(errs, fmt.Errorf("DescribeCdnService: %w", err))
	} else {
		c.export(ServiceCDN, st)
		c.steer(st)
	}
	if c.cfg.IPA {
		ipa, err := c.api.DescribeService(ctx, apiclient.DCDN())
		if err != nil {
			c.metrics.errors.WithLabelValues(ServiceDCDNIPA).Inc()
			errs = append(errs, fmt.Errorf("DescribeDcdnIpaService (is DCDN IPA activated? turn the IPA check off if not): %w", err))
		} else {
			c.export(ServiceDCDNIPA, ipa)
			if ipa.FinanciallyLocked() {
				c.log.Warn("DCDN IPA service is financially locked", slog.Any("locks", ipa.Locks()))
			}
		}
	}
	return errors.Join(errs...)
}

// steer pauses submissions while the CDN service is financially locked and
// resumes them once a check finds the lock lifted.
func (c *ServiceChecker) steer(st apiclient.ServiceStatus) {
	locked := st.FinanciallyLocked()
	switch {
	case locked:
		if !c.pause {
			c.log.Error("CDN service is financially locked (overdue payment): purges paused until the lock is lifted",
				slog.Any("locks", st.Locks()), slog.String("instance", st.InstanceID))
		}
		c.pause = true
		c.metrics.purgesPaused.Set(1)
		if c.pauser != nil {
			c.pauser.Pause(c.cfg.Now().Add(c.cfg.PauseFor), "CDN service financially locked (overdue payment); top up the account")
		}
	case c.pause:
		c.pause = false
		c.metrics.purgesPaused.Set(0)
		if c.pauser != nil {
			c.pauser.Resume()
		}
		c.log.Info("CDN service financial lock lifted: purges resume")
	}
}

// lockReasons are the OperationLocks reasons DescribeCdnService documents;
// the reason label takes only these, anything else counts as "other".
var lockReasons = map[string]bool{apiclient.LockReasonFinancial: true, "resource": true, "recycling": true, "security": true}

func lockLabel(reason string) string {
	if r := strings.ToLower(reason); lockReasons[r] {
		return r
	}
	return "other"
}

// export sets the metrics of one service from its state.
func (c *ServiceChecker) export(service string, st apiclient.ServiceStatus) {
	seen := c.seen[service]
	if seen == nil {
		seen = map[string]bool{}
		c.seen[service] = seen
	}
	for reason := range seen {
		c.metrics.locked.WithLabelValues(service, reason).Set(0)
	}
	for _, r := range st.Locks() {
		reason := lockLabel(r)
		seen[reason] = true
		c.metrics.locked.WithLabelValues(service, reason).Set(1)
	}
	for _, m := range []string{apiclient.PayByTraffic, apiclient.PayByBandwidth} {
		c.metrics.billing.WithLabelValues(service, m).Set(b2f(st.InternetChargeType == m))
		c.metrics.pending.WithLabelValues(service, m).Set(b2f(st.ChangingChargeType == m))
	}
	var at float64
	if t := parseAPITime(st.ChangingAffectTime); st.ChangingChargeType != "" && !t.IsZero() {
		at = float64(t.Unix())
	}
	c.metrics.pendingAt.WithLabelValues(service).Set(at)
	c.metrics.lastCheck.WithLabelValues(service).Set(float64(c.cfg.Now().Unix()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
