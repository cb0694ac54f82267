package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

// serve against a NATS that wants TLS with a client certificate and an
// nkey: it connects with nats.nkey_file and nats.tls.*, a hook is accepted
// and submitted, and the seed reaches no log.
func TestServeOverSecuredNATS(t *testing.T) {
	t.Parallel()
	s := jobstest.RunSecuredNATS(t)
	rs := startServe(t, map[string]string{
		"CDNPURGE_NATS_URL":           s.URL,
		"CDNPURGE_NATS_NKEY_FILE":     s.SeedFile,
		"CDNPURGE_NATS_TLS_CA_FILE":   s.PKI.CAFile,
		"CDNPURGE_NATS_TLS_CERT_FILE": s.PKI.ClientCert,
		"CDNPURGE_NATS_TLS_KEY_FILE":  s.PKI.ClientKey,
	})
	if code, body := rs.hook(t, "https://example.com/secured.html"); code != http.StatusAccepted {
		t.Fatalf("hook: %d %s", code, body)
	}
	jobstest.Eventually(t, "the path submitted", 20*time.Second, func() bool {
		return strings.Contains(scrape(t, rs.admin+"/metrics"), `cdnpurge_paths_submitted_total{action="refresh",target="cdn",type="File"} 1`)
	})
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	seed, _ := os.ReadFile(s.SeedFile)
	if strings.Contains(rs.logs.String(), strings.TrimSpace(string(seed))) {
		t.Error("the nkey seed reached the logs")
	}
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "cdnpurge-test-" + hex.EncodeToString(b)
}

// testSetup loads a config from env the way every command does.
func testSetup(t *testing.T, env map[string]string) *setup {
	t.Helper()
	env["CDNPURGE_CDN_EMULATOR"] = "true"
	c, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return &setup{cfg: c, log: slog.New(slog.DiscardHandler)}
}

// The quota mirror's Redis client logs in as an ACL user the test creates
// on the local Redis, with the password from redis.password_file or
// CDNPURGE_REDIS_PASSWORD; a wrong password is refused without being
// shown.
func TestRedisACLUser(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin := quotatest.Redis(t) // closed after the user's deletion below; fails instead of skipping when CI is set
	user, password := randomName(t), randomName(t)+"-pw"
	prefix := user + ":"
	// The rules docs/connections.md gives, with the test's own key prefix
	// (and ACL WHOAMI, for the check below).
	rules := []any{"ACL", "SETUSER", user, "on", ">" + password, "~" + prefix + "*",
		"+@read", "+@write", "+@scripting", "+@transaction", "+ping", "+time", "+acl|whoami"}
	if err := admin.Do(ctx, rules...).Err(); err != nil {
		t.Fatalf("create ACL user: %v", err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = admin.Do(bg, "ACL", "DELUSER", user).Err()
		keys, _ := admin.Keys(bg, prefix+"*").Result()
		if len(keys) > 0 {
			_ = admin.Del(bg, keys...).Err()
		}
	})
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"password file": {"CDNPURGE_REDIS_PASSWORD_FILE": pwFile},
		"environment":   {"CDNPURGE_REDIS_PASSWORD": password},
	} {
		env["CDNPURGE_REDIS_URL"] = "redis://127.0.0.1:6379/0"
		env["CDNPURGE_REDIS_USERNAME"] = user
		env["CDNPURGE_REDIS_KEY_PREFIX"] = prefix
		env["CDNPURGE_CDN_ACCOUNT_ID"] = "1234567890" // no STS lookup from a test
		s := testSetup(t, env)
		rdb, err := s.redisClient()
		if err != nil {
			t.Fatal(err)
		}
		if who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != user {
			t.Errorf("%s: logged in as %q (%v), want %s", name, who, err, user)
		}
		// The quota mirror works with the documented permissions.
		store, shared, closeStore, err := s.quotaStore()
		if err != nil || !shared {
			t.Fatalf("%s: quota store: shared %v, %v", name, shared, err)
		}
		mark, err := store.Mark(ctx)
		if err == nil {
			err = store.Set(ctx, apiclient.RefreshQuota{URLQuota: 100, URLRemain: 100, DirQuota: 10, DirRemain: 10,
				RegexQuota: 1, RegexRemain: 1, PreloadQuota: 100, PreloadRemain: 100}, mark)
		}
		var r quota.Reservation
		if err == nil {
			r, err = store.Reserve(ctx, quota.KindURL, 5)
		}
		if err == nil {
			err = store.Commit(ctx, r, 5)
		}
		if err == nil {
			_, _, err = store.TryLock(ctx, time.Second)
		}
		if err != nil || r.Granted != 5 {
			t.Errorf("%s: quota mirror as the ACL user: granted %d, %v", name, r.Granted, err)
		}
		closeStore()
	}

	s := testSetup(t, map[string]string{"CDNPURGE_REDIS_URL": "redis://127.0.0.1:6379/0",
		"CDNPURGE_REDIS_USERNAME": user, "CDNPURGE_REDIS_PASSWORD": "wrong-" + password})
	rdb, _ := s.redisClient()
	defer s.closeRedis()
	err := rdb.Ping(ctx).Err()
	if err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("wrong password: %v", err)
	}
}

// rediss:// with redis.tls.ca_file and a client certificate reaches a
// redis-server that requires TLS client authentication; without the
// certificate, or trusting another CA, the handshake fails.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	pki := jobstest.NewPKI(t)
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey, "--tls-ca-cert-file", pki.CAFile,
		"--tls-auth-clients", "yes", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "rediss://127.0.0.1:" + strconv.Itoa(port) + "/0"
	ping := func(env map[string]string) error {
		env["CDNPURGE_REDIS_URL"] = url
		s := testSetup(t, env)
		rdb, err := s.redisClient()
		if err != nil {
			return err
		}
		defer s.closeRedis()
		return rdb.Ping(t.Context()).Err()
	}
	full := map[string]string{"CDNPURGE_REDIS_TLS_CA_FILE": pki.CAFile,
		"CDNPURGE_REDIS_TLS_CERT_FILE": pki.ClientCert, "CDNPURGE_REDIS_TLS_KEY_FILE": pki.ClientKey}
	jobstest.Eventually(t, "redis-server with TLS to answer", 10*time.Second, func() bool {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		return ping(env) == nil
	})
	if err := ping(map[string]string{"CDNPURGE_REDIS_TLS_CA_FILE": pki.CAFile}); err == nil {
		t.Error("without a client certificate: connected")
	}
	if err := ping(map[string]string{"CDNPURGE_REDIS_TLS_CA_FILE": pki.OtherCAFile,
		"CDNPURGE_REDIS_TLS_CERT_FILE": pki.ClientCert, "CDNPURGE_REDIS_TLS_KEY_FILE": pki.ClientKey}); err == nil {
		t.Error("trusting another CA: connected")
	}
}
