package queue

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cdnpurge/cdnpurge/fielderr"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

// Auth is how a client proves itself to a secured NATS server: at most one
// of a credentials file (JWT and seed, as `nsc` writes it), an nkey seed
// file, a user and password, or a token, plus TLS (server CA and an
// optional client certificate). See docs/connections.md. Its String and
// LogValue never show the password, the token or file contents.
type Auth struct {
	CredsFile string
	NKeyFile  string
	User      string
	Password  string
	Token     string
	// TLS, when not nil, requires TLS with this configuration.
	TLS *tls.Config
	// LooseFiles accepts credentials and seed files others may read
	// (secretfile.Options.AllowLoose).
	LooseFiles bool
}

// Method names the way Auth authenticates, for logs: "creds", "nkey",
// "user", "token" or "none".
func (a Auth) Method() string {
	switch {
	case a.CredsFile != "":
		return "creds"
	case a.NKeyFile != "":
		return "nkey"
	case a.User != "":
		return "user"
	case a.Token != "":
		return "token"
	}
	return "none"
}

// String shows the method and TLS, never a secret.
func (a Auth) String() string {
	s := "auth=" + a.Method()
	if a.User != "" {
		s += " user=" + a.User
	}
	if a.TLS != nil {
		s += " tls=on"
	}
	return s
}

// Check reads the credentials and seed files and reports whether they hold
// what NATS needs, without reaching the network: each problem at its
// field (creds_file, nkey_file). Errors name the file, never its content.
func (a Auth) Check() fielderr.List {
	var errs fielderr.List
	if a.CredsFile != "" {
		if msg := checkCredsFile(a.CredsFile, a.LooseFiles); msg != "" {
			errs.Add("creds_file", "%s", msg)
		}
	}
	if a.NKeyFile != "" {
		if msg := checkNKeyFile(a.NKeyFile, a.LooseFiles); msg != "" {
			errs.Add("nkey_file", "%s", msg)
		}
	}
	return errs
}

// checkCredsFile says what is wrong with a .creds file, "" for nothing.
func checkCredsFile(path string, loose bool) string {
	data, err := secretfile.Read(path, secretfile.Options{AllowLoose: loose, What: "credentials file"})
	if err != nil {
		return err.Error()
	}
	defer wipe(data)
	jwt, err := nkeys.ParseDecoratedJWT(data)
	if err != nil || !strings.HasPrefix(strings.TrimSpace(jwt), "eyJ") {
		return fmt.Sprintf("credentials file %s holds no user JWT; want the .creds file written by `nsc generate creds`", path)
	}
	if _, err := nkeys.ParseDecoratedUserNKey(data); err != nil {
		return fmt.Sprintf("credentials file %s holds no user seed (%v); want the .creds file written by `nsc generate creds`", path, err)
	}
	return ""
}

// checkNKeyFile says what is wrong with an nkey seed file, "" for nothing.
func checkNKeyFile(path string, loose bool) string {
	data, err := secretfile.Read(path, secretfile.Options{AllowLoose: loose, What: "nkey seed file"})
	if err != nil {
		return err.Error()
	}
	defer wipe(data)
	if _, err := nkeys.ParseDecoratedUserNKey(data); err != nil {
		return fmt.Sprintf("nkey seed file %s holds no user seed (a line starting with SU): %v", path, err)
	}
	return ""
}

// Options returns the nats.Options for Auth, to pass to Connect.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	case a.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file %s: %w", a.NKeyFile, scrub(err))
		}
		opts = append(opts, o)
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	}
	if a.TLS != nil {
		opts = append(opts, nats.Secure(a.TLS))
	}
	return opts, nil
}

// scrub keeps only the class of a seed parsing error: the libraries'
// messages do not quote the seed, but a wrapped error from a future
// version might.
func scrub(err error) error {
	for _, known := range []error{nkeys.ErrInvalidSeed, nkeys.ErrInvalidUserSeed, nkeys.ErrNoSeedFound, nkeys.ErrInvalidNkeySeed, os.ErrNotExist, os.ErrPermission} {
		if errors.Is(err, known) {
			return known
		}
	}
	return errors.New("not a valid nkey user seed")
}

func wipe(b []byte) {
	copy(b, bytes.Repeat([]byte{'x'}, len(b)))
}
