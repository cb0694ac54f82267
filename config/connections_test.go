package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// base is a getenv with credentials and a domain, plus extra.
func base(extra map[string]string) func(string) string {
	m := map[string]string{"CDNPURGE_DOMAINS": "example.com"}
	for k, v := range creds {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return env(m)
}

func TestSyncInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value    string
		interval time.Duration
		always   bool
		bad      bool
	}{{"", embedded.GroupBackgroundSync, false, false}, {"always", 0, true, false}, {"1s", time.Second, false, false}, {"ALWAYS", 0, true, false},
		{"often", 0, false, true}, {"0s", 0, false, true}, {"-1m", 0, false, true}} {
		c, err := Load("", base(map[string]string{"CDNPURGE_NATS_EMBEDDED_SYNC_INTERVAL": tc.value}))
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "nats.embedded.sync_interval:") {
				t.Errorf("%q: want an error naming nats.embedded.sync_interval, got %v", tc.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.value, err)
			continue
		}
		o := c.EmbeddedOptions(nil)
		if o.SyncInterval != tc.interval || o.SyncAlways != tc.always {
			t.Errorf("%q: embedded options sync %s always %v", tc.value, o.SyncInterval, o.SyncAlways)
		}
		// Producers flush by group commit with the default only; a
		// lazy setting is the one risk Warnings names.
		if group := c.PublisherConfig(jobs.Subjects{}).Durable != nil; group != (tc.value == "") {
			t.Errorf("%q: publishers group-commit %v", tc.value, group)
		}
		if warned := len(c.Warnings()) > 0; warned != (tc.value == "1s") {
			t.Errorf("%q: warnings %q", tc.value, c.Warnings())
		}
	}
}

func TestNATSAuthValidation(t *testing.T) {
	t.Parallel()
	pki := jobstest.NewPKI(t)
	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	seedFile := writeFile(t, "user.nk", string(seed)+"\n")
	pwFile := writeFile(t, "pw", "nats-pa55-0123456789\n")
	url := map[string]string{"CDNPURGE_NATS_URL": "tls://nats.internal:4222"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range url {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" for valid
	}{
		{"nkey and mutual TLS", with("CDNPURGE_NATS_NKEY_FILE", seedFile, "CDNPURGE_NATS_TLS_CA_FILE", pki.CAFile,
			"CDNPURGE_NATS_TLS_CERT_FILE", pki.ClientCert, "CDNPURGE_NATS_TLS_KEY_FILE", pki.ClientKey), ""},
		{"user and password file", with("CDNPURGE_NATS_USER", "worker", "CDNPURGE_NATS_PASSWORD_FILE", pwFile), ""},
		{"token file", with("CDNPURGE_NATS_TOKEN_FILE", pwFile), ""},
		{"credentials without nats.url", map[string]string{"CDNPURGE_NATS_NKEY_FILE": seedFile}, "nats.nkey_file: applies to nats.url only"},
		{"TLS without nats.url", map[string]string{"CDNPURGE_NATS_TLS_CA_FILE": pki.CAFile}, "nats.tls.ca_file: applies to nats.url only"},
		{"two methods", with("CDNPURGE_NATS_NKEY_FILE", seedFile, "CDNPURGE_NATS_TOKEN_FILE", pwFile), "nats.token_file: nats.nkey_file is set too"},
		{"user info and nkey", map[string]string{"CDNPURGE_NATS_URL": "nats://u:p@nats.internal:4222", "CDNPURGE_NATS_NKEY_FILE": seedFile}, "use one way to authenticate"},
		{"user without password", with("CDNPURGE_NATS_USER", "worker"), "nats.password_file: must be set with nats.user"},
		{"missing seed file", with("CDNPURGE_NATS_NKEY_FILE", seedFile+".missing"), "nats.nkey_file: nkey seed file"},
		{"seed file holding a password", with("CDNPURGE_NATS_NKEY_FILE", pwFile), "nats.nkey_file: nkey seed file " + pwFile},
		{"certificate without key", with("CDNPURGE_NATS_TLS_CERT_FILE", pki.ClientCert), "nats.tls: key_file: cert_file is set but not key_file"},
		{"CA file that is a key", with("CDNPURGE_NATS_TLS_CA_FILE", pki.ClientKey), "holds no PEM certificate"},
		{"key of another certificate", with("CDNPURGE_NATS_TLS_CERT_FILE", pki.ClientCert, "CDNPURGE_NATS_TLS_KEY_FILE", pki.ServerKey), "are not a matching PEM certificate and key"},
	} {
		_, err := Load("", base(tc.env))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: want %q, got %v", tc.name, tc.want, err)
		}
		if err != nil {
			for _, secret := range []string{"nats-pa55-0123456789", string(seed), "PRIVATE KEY"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s: error shows secret content %q: %v", tc.name, secret, err)
				}
			}
		}
	}

	c, err := Load("", base(with("CDNPURGE_NATS_USER", "worker", "CDNPURGE_NATS_PASSWORD_FILE", pwFile,
		"CDNPURGE_NATS_TLS_CA_FILE", pki.CAFile)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.NATSAuth()
	if err != nil || a.User != "worker" || a.Password != "nats-pa55-0123456789" || a.TLS == nil || a.TLS.RootCAs == nil {
		t.Fatalf("NATSAuth = %s, %v", a, err)
	}
	if strings.Contains(a.String(), a.Password) {
		t.Errorf("Auth.String shows the password: %s", a)
	}
}

func TestRedisConnectionSettings(t *testing.T) {
	t.Parallel()
	pki := jobstest.NewPKI(t)
	pwFile := writeFile(t, "redis-pw", "r3dis-pa55-0123456789\n")

	// A password in the YAML file is refused, naming where it belongs.
	path := writeFile(t, "c.yaml", "redis:\n  url: redis://127.0.0.1:6379/0\n  password: r3dis-pa55-0123456789\n")
	_, err := Load(path, base(nil))
	if err == nil || !strings.Contains(err.Error(), "CDNPURGE_REDIS_PASSWORD") || strings.Contains(err.Error(), "r3dis-pa55") {
		t.Fatalf("password in YAML: %v", err)
	}

	c, err := Load("", base(map[string]string{"CDNPURGE_REDIS_URL": "rediss://redis.internal:6380/2",
		"CDNPURGE_REDIS_USERNAME": "cdnpurge", "CDNPURGE_REDIS_PASSWORD": "r3dis-pa55-0123456789",
		"CDNPURGE_REDIS_TLS_CA_FILE": pki.CAFile, "CDNPURGE_REDIS_TLS_CERT_FILE": pki.ClientCert, "CDNPURGE_REDIS_TLS_KEY_FILE": pki.ClientKey}))
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.RedisOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.Username != "cdnpurge" || o.Password != "r3dis-pa55-0123456789" || o.DB != 2 || o.TLSConfig == nil ||
		o.TLSConfig.ServerName != "redis.internal" || o.TLSConfig.RootCAs == nil || len(o.TLSConfig.Certificates) != 1 {
		t.Fatalf("redis options: user %q db %d tls %+v", o.Username, o.DB, o.TLSConfig)
	}
	for _, dump := range []func() ([]byte, error){c.YAML, c.JSON} {
		out, err := dump()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "r3dis-pa55") || !strings.Contains(string(out), Redacted) {
			t.Errorf("dump shows the Redis password or no mark of it:\n%s", out)
		}
	}

	c, err = Load("", base(map[string]string{"CDNPURGE_REDIS_URL": "redis://127.0.0.1:6379/0", "CDNPURGE_REDIS_PASSWORD_FILE": pwFile}))
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := c.RedisOptions(); o.Password != "r3dis-pa55-0123456789" || o.TLSConfig != nil {
		t.Errorf("password file: %+v", o)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"TLS files on redis://", map[string]string{"CDNPURGE_REDIS_URL": "redis://127.0.0.1:6379", "CDNPURGE_REDIS_TLS_CA_FILE": pki.CAFile}, "redis.tls: set, but redis.url uses redis://"},
		{"password twice", map[string]string{"CDNPURGE_REDIS_URL": "redis://127.0.0.1:6379", "CDNPURGE_REDIS_PASSWORD": "x", "CDNPURGE_REDIS_PASSWORD_FILE": pwFile}, "redis.password_file: CDNPURGE_REDIS_PASSWORD is set too"},
		{"password in URL and file", map[string]string{"CDNPURGE_REDIS_URL": "redis://u:secretinurl@127.0.0.1:6379", "CDNPURGE_REDIS_PASSWORD_FILE": pwFile}, "redis.url: carries a password"},
		{"settings without a URL", map[string]string{"CDNPURGE_REDIS_USERNAME": "cdnpurge"}, "redis.url: empty, but"},
		{"bad CA", map[string]string{"CDNPURGE_REDIS_URL": "rediss://127.0.0.1:6380", "CDNPURGE_REDIS_TLS_CA_FILE": pwFile}, "redis.tls: ca_file:"},
	} {
		_, err := Load("", base(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want %q, got %v", tc.name, tc.want, err)
		}
		if err != nil && (strings.Contains(err.Error(), "r3dis-pa55") || strings.Contains(err.Error(), "secretinurl")) {
			t.Errorf("%s: error shows a password: %v", tc.name, err)
		}
	}
	var fe FieldError
	if _, err := Load("", base(map[string]string{"CDNPURGE_REDIS_USERNAME": "x"})); !errors.As(err, &fe) {
		t.Errorf("want FieldErrors, got %T", err)
	}
}
