package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/credentials-go/credentials/providers"

	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/redact"
)

// Credential modes of cdn.credentials.type. The empty mode is the default
// chain of github.com/aliyun/credentials-go: environment, OIDC (RRSA), the
// aliyun CLI's config.json, the ~/.alibabacloud/credentials ini file, the
// ECS RAM role (IMDSv2) and ALIBABA_CLOUD_CREDENTIALS_URI, first that works.
const (
	ModeDefault        = ""
	ModeAccessKey      = "access_key"
	ModeSTS            = "sts"
	ModeRAMRoleARN     = "ram_role_arn"
	ModeOIDCRoleARN    = "oidc_role_arn"
	ModeECSRAMRole     = "ecs_ram_role"
	ModeCredentialsURI = "credentials_uri"
	ModeCLIProfile     = "cli_profile"
)

// modes lists the explicit modes, for messages.
var modes = []string{ModeAccessKey, ModeSTS, ModeRAMRoleARN, ModeOIDCRoleARN,
	ModeECSRAMRole, ModeCredentialsURI, ModeCLIProfile}

// Config picks where credentials come from (cdn.credentials).
// It holds no secret: key pairs and tokens come from the environment or
// from files (see docs/alibaba-cloud.md). Fields a mode does not use must
// be empty. Each field left empty falls back to the environment variable
// credentials-go reads for it (ALIBABA_CLOUD_ROLE_ARN, ...).
type Config struct {
	// Type is one of modes, or empty for the default chain.
	Type string `yaml:"type" json:"type"`
	// RoleARN is the RAM role to assume (ram_role_arn, oidc_role_arn).
	RoleARN string `yaml:"role_arn" json:"role_arn"`
	// RoleSessionName names the assumed session (default: credentials-go's).
	RoleSessionName string `yaml:"role_session_name" json:"role_session_name"`
	// DurationSeconds is the session's lifetime, 900 to the role's maximum
	// (default 3600).
	DurationSeconds int `yaml:"duration_seconds" json:"duration_seconds"`
	// ExternalID is the role's external ID (ram_role_arn).
	ExternalID string `yaml:"external_id" json:"external_id"`
	// Policy narrows the session's permissions (a RAM policy document).
	Policy string `yaml:"policy" json:"policy"`
	// OIDCProviderARN and OIDCTokenFile are the OIDC identity provider
	// and the file holding the token (oidc_role_arn; ACK RRSA sets both
	// through ALIBABA_CLOUD_OIDC_PROVIDER_ARN / ALIBABA_CLOUD_OIDC_TOKEN_FILE).
	OIDCProviderARN string `yaml:"oidc_provider_arn" json:"oidc_provider_arn"`
	OIDCTokenFile   string `yaml:"oidc_token_file" json:"oidc_token_file"`
	// RoleName is the ECS instance's RAM role (ecs_ram_role; default: the
	// one the metadata service names).
	RoleName string `yaml:"role_name" json:"role_name"`
	// DisableIMDSv1 refuses the metadata service without a session token.
	// It is the default now; the field is kept for configs that set it.
	DisableIMDSv1 bool `yaml:"disable_imds_v1" json:"disable_imds_v1"`
	// AllowIMDSv1 lets ecs_ram_role ask the metadata service without a
	// session token when it refuses to hand one out (IMDSv1; off by
	// default: IMDSv2 only).
	AllowIMDSv1 bool `yaml:"allow_imds_v1" json:"allow_imds_v1"`
	// URI serves credentials as JSON (credentials_uri).
	URI string `yaml:"uri" json:"uri"`
	// Profile and ProfileFile pick a profile of the aliyun CLI's config
	// (cli_profile; defaults: its current profile, ~/.aliyun/config.json).
	Profile     string `yaml:"profile" json:"profile"`
	ProfileFile string `yaml:"profile_file" json:"profile_file"`
}

// UsesStaticPair reports whether the mode signs with (or starts from) the
// key pair of the environment or cdn.credentials_file.
func (c Config) UsesStaticPair() bool {
	switch c.Type {
	case ModeAccessKey, ModeSTS, ModeRAMRoleARN:
		return true
	}
	return false
}

// NeedsSTS reports whether the mode calls STS itself (over https only).
func (c Config) NeedsSTS() bool {
	return c.Type == ModeRAMRoleARN || c.Type == ModeOIDCRoleARN
}

// Validate reports the problems of c, each at its field relative to the
// credentials block ("role_arn"). static is the key pair read from the
// environment or a file, for the modes that need one; prefix is the
// block's path, used in messages that name another field.
func (c Config) Validate(prefix string, static Credentials) fielderr.List {
	var errs fielderr.List
	bad := errs.Add
	used := map[string]bool{}
	switch c.Type {
	case ModeDefault:
	case ModeAccessKey, ModeSTS:
	case ModeRAMRoleARN:
		used["role_arn"], used["role_session_name"], used["duration_seconds"], used["external_id"], used["policy"] = true, true, true, true, true
	case ModeOIDCRoleARN:
		used["role_arn"], used["role_session_name"], used["duration_seconds"], used["policy"] = true, true, true, true
		used["oidc_provider_arn"], used["oidc_token_file"] = true, true
	case ModeECSRAMRole:
		used["role_name"], used["disable_imds_v1"], used["allow_imds_v1"] = true, true, true
		if c.AllowIMDSv1 && c.DisableIMDSv1 {
			bad("allow_imds_v1", "disable_imds_v1 is set too; keep one of them")
		}
	case ModeCredentialsURI:
		used["uri"] = true
		if c.URI != "" {
			if err := CheckURL(c.URI); err != nil {
				bad("uri", "%v", err)
			}
		}
	case ModeCLIProfile:
		used["profile"], used["profile_file"] = true, true
	default:
		bad("type", "%q: want one of %s, or leave it empty for the default chain", c.Type, strings.Join(modes, ", "))
		return errs
	}
	for _, field := range sortedKeys(map[string]bool{
		"role_arn": c.RoleARN != "", "role_session_name": c.RoleSessionName != "", "duration_seconds": c.DurationSeconds != 0,
		"external_id": c.ExternalID != "", "policy": c.Policy != "", "oidc_provider_arn": c.OIDCProviderARN != "",
		"oidc_token_file": c.OIDCTokenFile != "", "role_name": c.RoleName != "", "disable_imds_v1": c.DisableIMDSv1,
		"allow_imds_v1": c.AllowIMDSv1,
		"uri":           c.URI != "", "profile": c.Profile != "", "profile_file": c.ProfileFile != "",
	}) {
		if !used[field] {
			mode := c.Type
			if mode == "" {
				mode = "the default chain"
			}
			bad(field, "not used by %s; remove it or set %stype", mode, prefix)
		}
	}
	if c.DurationSeconds != 0 && c.DurationSeconds < 900 {
		bad("duration_seconds", "%d: STS sessions last at least 900 seconds", c.DurationSeconds)
	}
	if c.UsesStaticPair() {
		switch {
		case static.AccessKeyID == "" || static.AccessKeySecret == "":
			bad("type", "%s needs a key pair: set %s and %s, or cdn.credentials_file", c.Type, EnvAccessKeyID, EnvAccessKeySecret)
		case c.Type == ModeSTS && static.SecurityToken == "":
			bad("type", "sts needs a security token too: set %s (or security_token in cdn.credentials_file)", EnvSecurityToken)
		}
	}
	return errs
}

// ChainOptions are what NewChainProvider needs besides the config.
type ChainOptions struct {
	// Static is the key pair of the environment or cdn.credentials_file;
	// StaticSource says which ("env", "file /path").
	Static       Credentials
	StaticSource string
	// STSEndpoint is where roles are assumed; default DefaultSTSEndpoint.
	// credentials-go speaks https only, so an http URL is refused.
	STSEndpoint string
	// IMDSEndpoint is the ECS metadata service; default
	// DefaultIMDSEndpoint (tests point it at a local server).
	IMDSEndpoint string
	// Logger gets a failing provider's scrubbed answer at debug level;
	// nil logs nothing.
	Logger *slog.Logger
}

// fetchers builds the providers cdnpurge fetches itself (credfetch.go).
type fetchers struct {
	log  *slog.Logger
	imds string
}

func (f fetchers) uri(name, raw string) (Provider, error) {
	if raw == "" {
		raw = os.Getenv("ALIBABA_CLOUD_CREDENTIALS_URI")
	}
	if raw == "" {
		return nil, &Error{Provider: name, Reason: "no URI: set uri or ALIBABA_CLOUD_CREDENTIALS_URI"}
	}
	if err := CheckURL(raw); err != nil {
		return nil, &Error{Provider: name, Reason: "credentials URI refused", Err: err}
	}
	return &uriProvider{name: name, url: raw, http: newCredentialsHTTP(15*time.Second, 5*time.Second), log: f.log}, nil
}

func (f fetchers) ecs(name, role string, allowV1 bool) Provider {
	if role == "" {
		role = os.Getenv("ALIBABA_CLOUD_ECS_METADATA")
	}
	// The metadata service answers at once or not at all (off ECS).
	return &imdsProvider{name: name, endpoint: strings.TrimSuffix(f.imds, "/"), roleName: role, allowV1: allowV1,
		http: newCredentialsHTTP(3*time.Second, time.Second), log: f.log}
}

// NewChainProvider returns the provider cfg describes. With the default
// mode, a key pair from the environment or a file wins (it is what the
// chain would find first); without one, credentials-go's default chain
// runs. Providers built on credentials-go cache and refresh (an STS key is
// renewed three minutes before it expires), so asking per request is cheap.
func NewChainProvider(cfg Config, opts ChainOptions) (Provider, error) {
	f := fetchers{log: opts.Logger, imds: opts.IMDSEndpoint}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.imds == "" {
		f.imds = DefaultIMDSEndpoint
	}
	static := StaticProvider{Value: opts.Static, Name: opts.StaticSource}
	if static.Name == "" {
		static.Name = "static"
	}
	stsHost := ""
	// At the default endpoint, credentials-go picks it: sts.aliyuncs.com, or
	// the regional or VPC one that ALIBABA_CLOUD_STS_REGION and
	// ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED (set by ACK's pod identity
	// webhook) name.
	if cfg.NeedsSTS() && opts.STSEndpoint != "" && opts.STSEndpoint != DefaultSTSEndpoint {
		u, err := url.Parse(opts.STSEndpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("STS endpoint %q: want https://sts.aliyuncs.com or another https URL", opts.STSEndpoint)
		}
		if u.Scheme != "https" {
			return nil, fmt.Errorf("STS endpoint %s: credentials-go assumes roles over https only", opts.STSEndpoint)
		}
		stsHost = u.Host
	}
	var p providers.CredentialsProvider
	var err error
	switch cfg.Type {
	case ModeDefault:
		if opts.Static.AccessKeyID != "" {
			return static, nil
		}
		return f.defaultChain(), nil
	case ModeAccessKey, ModeSTS:
		return static, nil
	case ModeRAMRoleARN:
		b := providers.NewRAMRoleARNCredentialsProviderBuilder().
			WithCredentialsProvider(goProvider{static}).
			WithRoleArn(cfg.RoleARN).WithRoleSessionName(cfg.RoleSessionName).
			WithDurationSeconds(cfg.DurationSeconds).WithExternalId(cfg.ExternalID).WithPolicy(cfg.Policy).
			WithStsEndpoint(stsHost)
		p, err = b.Build()
	case ModeOIDCRoleARN:
		p, err = providers.NewOIDCCredentialsProviderBuilder().
			WithRoleArn(cfg.RoleARN).WithOIDCProviderARN(cfg.OIDCProviderARN).WithOIDCTokenFilePath(cfg.OIDCTokenFile).
			WithRoleSessionName(cfg.RoleSessionName).WithDurationSeconds(cfg.DurationSeconds).WithPolicy(cfg.Policy).
			WithSTSEndpoint(stsHost).Build()
	case ModeECSRAMRole:
		return f.ecs(cfg.Type, cfg.RoleName, cfg.AllowIMDSv1 && !cfg.DisableIMDSv1), nil
	case ModeCredentialsURI:
		return f.uri(cfg.Type, cfg.URI)
	case ModeCLIProfile:
		p, err = providers.NewCLIProfileCredentialsProviderBuilder().WithProfileName(cfg.Profile).
			WithProfileFile(cfg.ProfileFile).Build()
	default:
		return nil, fmt.Errorf("credentials type %q: want one of %s", cfg.Type, strings.Join(modes, ", "))
	}
	name := cfg.Type
	if name == "" {
		name = "default"
	}
	if err != nil {
		return nil, libraryError(f.log, name, err)
	}
	return &chainProvider{p: p, name: name, log: f.log}, nil
}

// defaultChain is credentials-go's default chain with its two HTTP
// fetchers (the metadata service, a credentials URI) replaced by ours:
// the environment, OIDC (RRSA), the aliyun CLI's config.json, the
// credentials ini file, the ECS RAM role (IMDSv2 only; skipped when
// ALIBABA_CLOUD_ECS_METADATA_DISABLED=true) and
// ALIBABA_CLOUD_CREDENTIALS_URI, first that works.
func (f fetchers) defaultChain() *chain {
	c := &chain{}
	add := func(name string, p providers.CredentialsProvider, err error) {
		if err == nil {
			c.links = append(c.links, &chainProvider{p: p, name: "default/" + name, log: f.log})
		}
	}
	env, err := providers.NewEnvironmentVariableCredentialsProviderBuilder().Build()
	add("env", env, err)
	oidc, err := providers.NewOIDCCredentialsProviderBuilder().Build()
	add("oidc_role_arn", oidc, err)
	cli, err := providers.NewCLIProfileCredentialsProviderBuilder().Build()
	add("cli_profile", cli, err)
	prof, err := providers.NewProfileCredentialsProviderBuilder().Build()
	add("profile", prof, err)
	if !strings.EqualFold(os.Getenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED"), "true") {
		c.links = append(c.links, f.ecs("default/ecs_ram_role", "", false))
	}
	if os.Getenv("ALIBABA_CLOUD_CREDENTIALS_URI") != "" {
		p, err := f.uri("default/credentials_uri", "")
		if err != nil {
			p = failing{err}
		}
		c.links = append(c.links, p)
	}
	return c
}

// failing is a provider that always fails with err.
type failing struct{ err error }

func (p failing) Credentials(context.Context) (Credentials, error) { return Credentials{}, p.err }

// chain asks its links in order and sticks to the first that answers, as
// credentials-go's default chain does.
type chain struct {
	mu    sync.Mutex
	links []Provider
	last  Provider
}

// Credentials asks the link that answered last, else each in turn.
func (c *chain) Credentials(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	if last != nil {
		return last.Credentials(ctx)
	}
	var errs []string
	for _, p := range c.links {
		cr, err := p.Credentials(ctx)
		if err == nil {
			c.mu.Lock()
			c.last = p
			c.mu.Unlock()
			return cr, nil
		}
		if ctx.Err() != nil {
			return Credentials{}, ctx.Err()
		}
		errs = append(errs, err.Error())
	}
	return Credentials{}, &Error{Provider: "default", Reason: "no provider of the default chain has credentials",
		Err: errors.New(strings.Join(errs, "; "))}
}

// libraryError turns a credentials-go error into a *Error. Its
// messages quote providers' answers, so only the text before the first
// ": " (credentials-go's own words, such as "refresh session token
// failed") is kept, scrubbed; the whole message, scrubbed, goes to the
// debug log.
func libraryError(log *slog.Logger, provider string, err error) *Error {
	msg := err.Error()
	log.Debug("credentials provider failed", slog.String("provider", provider), slog.String("error", redact.Text(msg)))
	reason, _, _ := strings.Cut(msg, ": ")
	reason = redact.Clip(redact.Escape(redact.Scrub(reason)), 160)
	if reason == "" {
		reason = "failed"
	}
	return &Error{Provider: provider, Reason: reason}
}

// chainProvider adapts a credentials-go provider. Those keep their cache in
// plain fields, so calls are serialised; a cached answer is a field read.
type chainProvider struct {
	mu   sync.Mutex
	p    providers.CredentialsProvider
	name string
	log  *slog.Logger
}

// Credentials asks the provider. credentials-go takes no context: its own
// timeouts (5 s connect, 10 s read) bound a refresh.
func (c *chainProvider) Credentials(ctx context.Context) (Credentials, error) {
	if err := ctx.Err(); err != nil {
		return Credentials{}, err
	}
	c.mu.Lock()
	got, err := c.p.GetCredentials()
	c.mu.Unlock()
	if err != nil {
		return Credentials{}, libraryError(c.log, c.name, err)
	}
	cr := Credentials{AccessKeyID: got.AccessKeyId, AccessKeySecret: got.AccessKeySecret, SecurityToken: got.SecurityToken}
	if err := cr.Validate(); err != nil {
		return Credentials{}, &Error{Provider: c.name, Reason: "handed out an incomplete key pair"}
	}
	return cr, nil
}

// goProvider lets credentials-go start a role from one of our providers.
type goProvider struct{ p Provider }

func (g goProvider) GetCredentials() (*providers.Credentials, error) {
	c, err := g.p.Credentials(context.Background())
	if err != nil {
		return nil, err
	}
	return &providers.Credentials{AccessKeyId: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret,
		SecurityToken: c.SecurityToken, ProviderName: g.GetProviderName()}, nil
}

func (g goProvider) GetProviderName() string {
	if s, ok := g.p.(StaticProvider); ok {
		return s.Name
	}
	return "cdnpurge"
}

// sortedKeys returns the keys whose value is true, sorted.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
