package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/redact"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

// This file holds the secured-connection settings of NATS and Redis
// (docs/connections.md): their types, their validation and the conversion
// into client options.

// TLSFiles configures TLS of a client connection from PEM files.
type TLSFiles struct {
	// CAFile holds the CA certificates that sign the server's certificate;
	// empty uses the system pool.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CertFile and KeyFile hold a client certificate and its key, for
	// servers that verify clients; set both or neither.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
}

// IsSet reports whether any file is configured.
func (t TLSFiles) IsSet() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Config reads the files into a TLS client configuration (TLS 1.2 or
// later). serverName may be "" to verify against the dialled host. Errors
// name the file, never its content.
func (t TLSFiles) Config(serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		if t.CertFile == "" {
			return nil, fmt.Errorf("cert_file: key_file is set but not cert_file; set both for a client certificate")
		}
		return nil, fmt.Errorf("key_file: cert_file is set but not key_file; set both for a client certificate")
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// The tls package's messages name what is wrong, not the key.
			return nil, fmt.Errorf("cert_file, key_file: %s and %s are not a matching PEM certificate and key: %w", t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// EnvSecret is a secret that comes from its CDNPURGE_* variable only: the
// YAML file refuses it, and it prints as Redacted.
type EnvSecret string

// Value returns the secret itself.
func (s EnvSecret) Value() string { return string(s) }

// String masks the secret.
func (s EnvSecret) String() string { return secretfile.Secret(s).String() }

// GoString masks the secret for %#v.
func (s EnvSecret) GoString() string { return s.String() }

// LogValue masks the secret for slog.
func (s EnvSecret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON masks the secret in JSON dumps.
func (s EnvSecret) MarshalJSON() ([]byte, error) { return secretfile.Secret(s).MarshalJSON() }

// MarshalYAML masks the secret in YAML dumps.
func (s EnvSecret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML refuses the secret in the config file.
func (s *EnvSecret) UnmarshalYAML(n *yaml.Node) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: passwords are never read from the config file: "+
		"set %s or redis.password_file", n.Line, EnvName("redis.password"))}}
}

// connectionProblems checks the NATS and Redis connection settings and
// the embedded server's sync interval; every problem names its field from
// the config's root. It reads the files named, never the network.
func (c *Config) connectionProblems() fielderr.List {
	var errs fielderr.List
	add := errs.Add
	n := c.NATS
	if _, _, err := embedded.ParseSyncInterval(n.Embedded.SyncInterval); err != nil {
		add("nats.embedded.sync_interval", "%v", err)
	}
	if n.URL == "" {
		for _, f := range []struct{ field, v string }{{"nats.creds_file", n.CredsFile}, {"nats.nkey_file", n.NKeyFile},
			{"nats.user", n.User}, {"nats.password_file", n.PasswordFile}, {"nats.token_file", n.TokenFile},
			{"nats.tls.ca_file", n.TLS.CAFile}, {"nats.tls.cert_file", n.TLS.CertFile}, {"nats.tls.key_file", n.TLS.KeyFile}} {
			if f.v != "" {
				add(f.field, "applies to nats.url only; the embedded server takes no credentials or TLS: set nats.url or remove it")
			}
		}
	} else {
		var methods []string
		for _, m := range []struct{ field, v string }{{"nats.creds_file", n.CredsFile}, {"nats.nkey_file", n.NKeyFile},
			{"nats.user", n.User}, {"nats.token_file", n.TokenFile}, {"nats.url (user info)", natsURLUser(n.URL)}} {
			if m.v != "" {
				methods = append(methods, m.field)
			}
		}
		if len(methods) > 1 {
			add(strings.Fields(methods[1])[0], "%s is set too: use one way to authenticate", strings.Join(methods[:len(methods)-1], ", "))
		}
		if n.User != "" && n.PasswordFile == "" {
			add("nats.password_file", "must be set with nats.user (a file holding the password on one line)")
		}
		if n.PasswordFile != "" && n.User == "" {
			add("nats.user", "must be set with nats.password_file")
		}
		for _, f := range []struct{ field, path string }{{"nats.password_file", n.PasswordFile}, {"nats.token_file", n.TokenFile}} {
			if f.path != "" {
				if _, err := c.readSecretFile(f.path); err != nil {
					add(f.field, "%v", err)
				}
			}
		}
		errs.Append("nats", queue.Auth{CredsFile: n.CredsFile, NKeyFile: n.NKeyFile, LooseFiles: c.SecretFiles.AllowLoosePermissions}.Check())
		if n.TLS.IsSet() {
			if _, err := n.TLS.Config(""); err != nil {
				add("nats.tls", "%v", err)
			}
		}
	}

	r := c.Redis
	if r.PasswordFile != "" && r.Password != "" {
		add("redis.password_file", "%s is set too; set one of them", EnvName("redis.password"))
	}
	if r.PasswordFile != "" {
		if _, err := c.readSecretFile(r.PasswordFile); err != nil {
			add("redis.password_file", "%v", err)
		}
	}
	errs = append(errs, c.redisModeProblems()...)
	if r.URL == "" {
		if !c.RedisSet() && (r.Username != "" || r.Password != "" || r.PasswordFile != "" || r.TLS.IsSet()) {
			add("redis.url", "empty, but redis.username, password or tls is set: set redis.url (or redis.sentinel, redis.cluster) or remove them")
		}
		return errs
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return errs // Validate reports redis.url
	}
	if u.User != nil {
		if _, has := u.User.Password(); has && (r.Password != "" || r.PasswordFile != "") {
			add("redis.url", "carries a password and so do redis.password / redis.password_file; keep one (the _file field is best)")
		}
	}
	if r.TLS.IsSet() {
		if u.Scheme != "rediss" {
			add("redis.tls", "set, but redis.url uses %s://: use rediss:// for TLS", u.Scheme)
		} else if _, err := r.TLS.Config(""); err != nil {
			add("redis.tls", "%v", err)
		}
	}
	return errs
}

// natsURLUser is the user info of the first URL of a list, "" for none.
func natsURLUser(list string) string {
	for part := range strings.SplitSeq(list, ",") {
		if u, err := url.Parse(strings.TrimSpace(part)); err == nil && u.User != nil {
			return u.User.Username()
		}
	}
	return ""
}

// NATSAuth returns how to authenticate to nats.url, reading the password
// and token files. Validate has checked them.
func (c *Config) NATSAuth() (queue.Auth, error) {
	n := c.NATS
	a := queue.Auth{CredsFile: n.CredsFile, NKeyFile: n.NKeyFile, User: n.User, LooseFiles: c.SecretFiles.AllowLoosePermissions}
	var err error
	if n.PasswordFile != "" {
		if a.Password, err = c.readSecretFile(n.PasswordFile); err != nil {
			return queue.Auth{}, fmt.Errorf("nats.password_file: %w", err)
		}
	}
	if n.TokenFile != "" {
		if a.Token, err = c.readSecretFile(n.TokenFile); err != nil {
			return queue.Auth{}, fmt.Errorf("nats.token_file: %w", err)
		}
	}
	if n.TLS.IsSet() {
		if a.TLS, err = n.TLS.Config(""); err != nil {
			return queue.Auth{}, fmt.Errorf("nats.tls: %w", err)
		}
	}
	return a, nil
}

// RedisOptions returns the go-redis options of redis.url with the ACL
// user, the password (from CDNPURGE_REDIS_PASSWORD or redis.password_file)
// and, for rediss://, the CA and client certificate. nil when redis.url is
// unset. Errors never show the password.
func (c *Config) RedisOptions() (*redis.Options, error) {
	r := c.Redis
	if r.URL == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url %s: %s", redact.URL(r.URL), redactErr(err, r.URL))
	}
	if r.Username != "" {
		opts.Username = r.Username
	}
	if pw, err := c.redisPassword(); err != nil {
		return nil, err
	} else if pw != "" {
		opts.Password = pw
	}
	if opts.TLSConfig != nil && r.TLS.IsSet() {
		// rediss:// made a TLS config naming the URL's host; keep that
		// name and add the files.
		tc, err := r.TLS.Config(opts.TLSConfig.ServerName)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: %w", err)
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}
