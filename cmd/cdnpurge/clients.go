package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/quota/ratelimit"
	"github.com/cdnpurge/cdnpurge/redact"
)

// setup is a loaded config with a logger, what every command starts from.
type setup struct {
	cfg *config.Config
	log *slog.Logger
	rdb redis.UniversalClient
	// creds is the credentials provider of cdn.credentials, made once so
	// that its cache (STS sessions) is shared by every client.
	creds credentials.Provider
	// warnedAccount: the redis.account deprecation was logged.
	warnedAccount bool
	// noCDN is set when the config has no CDN credentials (NATS-only
	// commands); apiClient then refuses.
	noCDN bool
	// refused hears of every NATS permission violation (refusal.go).
	refused func(*queue.PermissionError)
	// natsDefault is set when the NATS URL is the embedded default: no
	// nats.url and no serve found beside (checkDefaultNATS).
	natsDefault bool
}

func (a *app) setup(stderr interface{ Write([]byte) (int, error) }) (*setup, error) {
	c, err := a.loadConfig()
	if err != nil {
		if a.natsOnly && a.noServeBeside() && isConfigError(err) {
			// A fresh clone: what it misses is the serve, not the config.
			return nil, noServeError{err: err}
		}
		return nil, err
	}
	log, err := newLogger(stderr, c.Log.Level, c.Log.Format)
	if err != nil {
		return nil, err
	}
	a.discovery.note(stderr)
	return &setup{cfg: c, log: log, noCDN: a.noCDN, refused: a.refused, natsDefault: a.natsOnly && a.noServeBeside() && c.NATS.URL == ""}, nil
}

// apiClient builds the CDN API client. With redis.url set, its calls/s
// come out of one budget shared by every replica of the account; without,
// each process paces itself at cdn.rate_share of the limits. onAttempt, if
// not nil, sees every HTTP exchange (metrics).
func (s *setup) apiClient(onAttempt func(apiclient.Attempt)) (*apiclient.Client, error) {
	if s.noCDN {
		return nil, errNoCDN
	}
	opts, err := s.clientOptions()
	if err != nil {
		return nil, err
	}
	opts.OnAttempt = onAttempt
	rdb, err := s.redisClient()
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		if err := s.resolveAccount(); err != nil {
			return nil, err
		}
		fallback := opts.RateShare
		if fallback >= 1 {
			fallback = 0.5
		}
		opts.Limiter = ratelimit.NewLimiter(rdb, ratelimit.LimiterOptions{Prefix: s.cfg.Redis.KeyPrefix,
			Account: s.cfg.QuotaAccount(), Limits: opts.RateLimits, FallbackShare: fallback, Logger: s.log})
	}
	// One pacer per product's limit; their per-domain counters share keys
	// safely because a domain is on one product only.
	pacer := func(n int) apiclient.DomainPacer {
		po := ratelimit.DomainPacerOptions{Prefix: s.cfg.Redis.KeyPrefix, Account: s.cfg.QuotaAccount(), Limit: n, Logger: s.log}
		if rdb != nil {
			return ratelimit.NewRedisDomainPacer(rdb, po)
		}
		return ratelimit.NewMemoryDomainPacer(po)
	}
	if n := s.cfg.CDN.DomainURLsPerMinute; n > 0 {
		opts.DomainPacer = pacer(n)
	}
	// Without its own pacer DCDN would share CDN's: it gets its own
	// limit, or explicitly none.
	dcdnPacer := apiclient.NoPacing()
	if n := s.cfg.CDN.DCDNDomainURLsPerMinute; n > 0 {
		dcdnPacer = pacer(n)
	}
	opts.DomainPacers = map[apiclient.Product]apiclient.DomainPacer{apiclient.ProductDCDN: dcdnPacer}
	cl, err := apiclient.New(opts)
	if err != nil {
		return nil, fmt.Errorf("CDN API client: %w", err)
	}
	return cl, nil
}

// clientOptions are the API client's options with the credentials
// provider of cdn.credentials.
func (s *setup) clientOptions() (apiclient.Options, error) {
	opts := s.cfg.APIClientOptions(s.log)
	if s.creds == nil {
		co := s.cfg.ChainOptions()
		co.Logger = s.log
		p, err := credentials.NewChainProvider(s.cfg.CDN.Credentials.Config, co)
		if err != nil {
			return apiclient.Options{}, fmt.Errorf("cdn.credentials: %w", err)
		}
		s.creds = p
	}
	opts.Provider = s.creds
	return opts, nil
}

// accountLookupTimeout bounds the GetCallerIdentity call at start.
const accountLookupTimeout = time.Minute

// resolveAccount makes sure the config names the account that every shared
// key is named by: cdn.account_id, the deprecated redis.account, or else
// the AccountId STS GetCallerIdentity returns for the credentials, asked
// once and kept in cdn.account_id. Never the AccessKeyId, which changes
// with each rotation and STS session.
func (s *setup) resolveAccount() error {
	if s.cfg.CDN.AccountID == "" && s.cfg.Redis.Account != "" && !s.warnedAccount {
		s.warnedAccount = true
		s.log.Warn("redis.account is deprecated; set cdn.account_id (docs/alibaba-cloud.md, account identity)",
			slog.String("redis_account", s.cfg.Redis.Account))
	}
	if s.cfg.QuotaAccount() != "" {
		return nil
	}
	opts, err := s.clientOptions()
	if err != nil {
		return err
	}
	cl, err := apiclient.New(opts)
	if err != nil {
		return fmt.Errorf("CDN API client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), accountLookupTimeout)
	defer cancel()
	id, err := cl.GetCallerIdentity(ctx)
	if err != nil {
		return fmt.Errorf("naming the account for the shared quota keys: STS GetCallerIdentity at %s failed: %w (set cdn.account_id to skip the lookup)",
			cl.STSEndpoint(), err)
	}
	s.cfg.CDN.AccountID = id.AccountID
	s.log.Info("account identified by STS", slog.String("account_id", id.AccountID),
		slog.String("identity_type", id.IdentityType), slog.String("arn", id.Arn))
	return nil
}

// redisClient is the client of the Redis configured (redis.url,
// redis.sentinel or redis.cluster), made once; nil when none is.
func (s *setup) redisClient() (redis.UniversalClient, error) {
	if !s.cfg.RedisSet() || s.rdb != nil {
		return s.rdb, nil
	}
	rdb, err := s.cfg.NewRedisClient()
	if err != nil {
		return nil, err
	}
	s.rdb = rdb
	return s.rdb, nil
}

// closeRedis releases the Redis client, if one was made.
func (s *setup) closeRedis() {
	if s.rdb != nil {
		_ = s.rdb.Close()
		s.rdb = nil
	}
}

// quotaStore is the CDN quota store (quotaStoreFor, in quotacmd.go).
func (s *setup) quotaStore() (store quota.Store, shared bool, close func(), err error) {
	return s.quotaStoreFor(apiclient.ProductCDN)
}

// connectNATS connects to nats.url, or to the embedded server of a running
// serve when it is empty.
func (s *setup) connectNATS(name string) (*nats.Conn, jetstream.JetStream, jobs.Subjects, error) {
	subj, err := s.cfg.Subjects()
	if err != nil {
		return nil, nil, jobs.Subjects{}, err
	}
	if err := s.checkDefaultNATS(); err != nil {
		return nil, nil, jobs.Subjects{}, err
	}
	nc, err := s.dialNATS(s.cfg.NATSURL(), name)
	if err != nil {
		return nil, nil, jobs.Subjects{}, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, jobs.Subjects{}, fmt.Errorf("JetStream on %s: %w", redact.URL(s.cfg.NATSURL()), err)
	}
	return nc, js, subj, nil
}

// dialNATS connects to url with the credentials and TLS of nats.* (none
// for the embedded server: validation refuses them without nats.url).
func (s *setup) dialNATS(url, name string) (*nats.Conn, error) {
	auth, err := s.cfg.NATSAuth()
	if err != nil {
		return nil, err
	}
	opts, err := auth.Options()
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if auth.Method() != "none" || auth.TLS != nil {
		s.log.Debug("nats credentials", slog.String("auth", auth.String()))
	}
	// A refused publish or subscription is reported apart from the call
	// that caused it, which would wait for its timeout: catch it, name the
	// permission and the role that has it.
	opts = append(opts, queue.NewRefusals(natsUser(auth, url), roles(s.cfg), s.log, s.refused).Option())
	return queue.Connect(url, name, s.log, opts...)
}
