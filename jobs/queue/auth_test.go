package queue_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

func runSecuredNATS(t *testing.T) *securedNATS {
	t.Helper()
	return &securedNATS{jobstest.RunSecuredNATS(t)}
}

type securedNATS struct{ *jobstest.SecuredNATS }

func (s *securedNATS) tls(t *testing.T, ca string, withCert bool) *tls.Config {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	pool, err := loadPool(ca)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = pool
	if withCert {
		pair, err := tls.LoadX509KeyPair(s.PKI.ClientCert, s.PKI.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// The worker's connection authenticates with an nkey seed over TLS with a
// client certificate, and JetStream works through it.
func TestConnectNKeyOverMutualTLS(t *testing.T) {
	t.Parallel()
	s := runSecuredNATS(t)
	auth := queue.Auth{NKeyFile: s.SeedFile, TLS: s.tls(t, s.PKI.CAFile, true)}
	if err := auth.Check(); err != nil {
		t.Fatal(err)
	}
	opts, err := auth.Options()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	nc, err := queue.Connect(s.URL, "auth-test", slog.New(slog.NewTextHandler(&logs, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	jobstest.Eventually(t, "the connection", 10*time.Second, func() bool { return nc.Status() == nats.CONNECTED })
	if !nc.TLSRequired() {
		t.Error("connection is not TLS")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := jobs.NewSubjects("")
	if _, err := queue.EnsureStream(t.Context(), js, queue.StreamConfig{Subjects: subj}); err != nil {
		t.Fatalf("JetStream over the secured connection: %v", err)
	}
	seed, _ := os.ReadFile(s.SeedFile)
	if strings.Contains(logs.String(), strings.TrimSpace(string(seed))) {
		t.Error("the seed reached the logs")
	}
}

func TestConnectUserPassword(t *testing.T) {
	t.Parallel()
	s := runSecuredNATS(t)
	good := queue.Auth{User: "worker", Password: s.Password, TLS: s.tls(t, s.PKI.CAFile, true)}
	opts, _ := good.Options()
	nc, err := nats.Connect(s.URL, opts...)
	if err != nil {
		t.Fatalf("user and password: %v", err)
	}
	nc.Close()

	bad := queue.Auth{User: "worker", Password: "wrong-" + s.Password, TLS: s.tls(t, s.PKI.CAFile, true)}
	opts, _ = bad.Options()
	_, err = nats.Connect(s.URL, opts...)
	if err == nil {
		t.Fatal("a wrong password connected")
	}
	if strings.Contains(err.Error(), s.Password) || strings.Contains(bad.String(), s.Password) {
		t.Errorf("the password leaked: %v / %s", err, bad)
	}
}

// Without the client certificate, or trusting another CA, the TLS
// handshake fails.
func TestConnectTLSRefusals(t *testing.T) {
	t.Parallel()
	s := runSecuredNATS(t)
	for name, cfg := range map[string]*tls.Config{
		"no client certificate": s.tls(t, s.PKI.CAFile, false),
		"another CA":            s.tls(t, s.PKI.OtherCAFile, true),
	} {
		opts, _ := queue.Auth{NKeyFile: s.SeedFile, TLS: cfg}.Options()
		if nc, err := nats.Connect(s.URL, opts...); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
	opts, _ := queue.Auth{NKeyFile: s.SeedFile}.Options()
	if nc, err := nats.Connect(s.URL, opts...); err == nil {
		nc.Close()
		t.Error("without TLS: connected")
	}
}

func TestConnectToken(t *testing.T) {
	t.Parallel()
	pki := jobstest.NewPKI(t)
	const token = "t0ken-0123456789-abcdef"
	urls := jobstest.RunNATSProcess(t, `
tls { cert_file: "`+pki.ServerCert+`", key_file: "`+pki.ServerKey+`" }
authorization { token: "`+token+`" }
`)
	pool, _ := loadPool(pki.CAFile)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	opts, _ := queue.Auth{Token: token, TLS: tc}.Options()
	nc, err := nats.Connect(urls[0], opts...)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	nc.Close()
	opts, _ = queue.Auth{Token: "not-" + token, TLS: tc}.Options()
	if _, err := nats.Connect(urls[0], opts...); err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestAuthCheckNamesFileNotContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.nk")
	const secretish = "SUNOTAVALIDSEEDBUTSECRETLOOKING0123456789"
	if err := os.WriteFile(bad, []byte(secretish+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, a := range []queue.Auth{{NKeyFile: bad}, {CredsFile: bad}} {
		err := a.Check()
		if err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), secretish) {
			t.Errorf("%s: %v", a, err)
		}
		if _, err := a.Options(); a.NKeyFile != "" && (err == nil || strings.Contains(err.Error(), secretish)) {
			t.Errorf("options: %v", err)
		}
	}
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + file)
	}
	return pool, nil
}

// A credentials file as nsc writes it (a JWT block and a seed block) passes
// the check; one without its seed is refused.
func TestAuthCheckCredsFile(t *testing.T) {
	t.Parallel()
	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln"
	full := "-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	dir := t.TempDir()
	good, half := filepath.Join(dir, "good.creds"), filepath.Join(dir, "half.creds")
	_ = os.WriteFile(good, []byte(full), 0o600)
	_ = os.WriteFile(half, []byte(full[:strings.Index(full, "-----BEGIN USER")]), 0o600)
	if err := (queue.Auth{CredsFile: good}).Check(); err != nil {
		t.Errorf("good creds: %v", err)
	}
	if err := (queue.Auth{CredsFile: half}).Check(); err == nil || strings.Contains(err.Error(), jwt) {
		t.Errorf("creds without a seed: %v", err)
	}
}

// A credentials file (user JWT and seed) authenticates to a server in
// operator mode, as hosted NATS services run.
func TestConnectCredsFile(t *testing.T) {
	t.Parallel()
	operator, _ := nkeys.CreateOperator()
	opub, _ := operator.PublicKey()
	ojwt, err := jwt.NewOperatorClaims(opub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	account, _ := nkeys.CreateAccount()
	apub, _ := account.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := nkeys.CreateUser()
	upub, _ := user.PublicKey()
	useed, _ := user.Seed()
	ujwt, err := jwt.NewUserClaims(upub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	urls := jobstest.RunNATSProcess(t, "operator: "+ojwt+"\nresolver: MEMORY\nresolver_preload: { "+apub+": "+ajwt+" }\n")

	auth := queue.Auth{CredsFile: credsFile}
	if err := auth.Check(); err != nil {
		t.Fatal(err)
	}
	opts, _ := auth.Options()
	nc, err := nats.Connect(urls[0], opts...)
	if err != nil {
		t.Fatalf("connect with the creds file: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("creds.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("creds.test", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "hi" {
		t.Fatalf("round trip through the creds connection: %v", err)
	}
	if _, err := nats.Connect(urls[0]); err == nil {
		t.Error("connected without credentials")
	}
}
