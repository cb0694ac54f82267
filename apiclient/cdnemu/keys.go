package cdnemu

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// keyring holds the account's AccessKeys: long-lived pairs, which tests may
// add and remove at run time to rotate them, and the short-lived ones STS
// mints, each with its token and expiry. It has its own lock because the
// signature checks run outside the emulator's.
type keyring struct {
	mu   sync.RWMutex
	keys map[string]accessKey
}

// accessKey is one key pair. A temporary key (from AssumeRole or
// AssumeRoleWithOIDC) only works with its token and until it expires.
type accessKey struct {
	secret  string
	token   string
	expires time.Time
	// arn is the identity GetCallerIdentity reports for the key.
	arn string
}

func (k accessKey) temporary() bool { return k.token != "" }

func newKeyring(id, secret string, extra map[string]string) *keyring {
	r := &keyring{keys: map[string]accessKey{id: {secret: secret}}}
	for i, s := range extra {
		r.keys[i] = accessKey{secret: s}
	}
	return r
}

func (r *keyring) lookup(id string) (accessKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[id]
	return k, ok
}

func (r *keyring) put(id string, k accessKey) {
	r.mu.Lock()
	r.keys[id] = k
	r.mu.Unlock()
}

func (r *keyring) remove(id string) {
	r.mu.Lock()
	delete(r.keys, id)
	r.mu.Unlock()
}

// checkToken refuses a temporary key used without its token or after it
// expired, and a token sent with a long-lived key, as STS-issued
// credentials are checked by the real API.
func (k accessKey) checkToken(token string, now time.Time) *answer {
	switch {
	case !k.temporary() && token == "":
		return nil
	case !k.temporary():
		return fail("InvalidSecurityToken.MismatchWithAccessKey", "A security token was sent with a long-lived AccessKey.")
	case token == "":
		return fail("InvalidSecurityToken.MismatchWithAccessKey", "The AccessKey is temporary and needs its security token.")
	case token != k.token:
		return fail("InvalidSecurityToken.MismatchWithAccessKey", "The security token does not belong to the AccessKey.")
	case !now.Before(k.expires):
		return fail("InvalidSecurityToken.Expired", "The security token expired at "+k.expires.UTC().Format(time.RFC3339)+".")
	}
	return nil
}

// AddKey lets the account sign with another long-lived pair, as a user
// rotating keys does before retiring the old one.
func (e *Emulator) AddKey(id, secret string) { e.keys.put(id, accessKey{secret: secret}) }

// RemoveKey retires a key pair: calls signed with it are refused with
// InvalidAccessKeyId.NotFound from then on.
func (e *Emulator) RemoveKey(id string) { e.keys.remove(id) }

// AddTemporaryKey registers an STS-style key that works with token until
// expires (on the emulator clock), for tests of expiry and of credential
// sources that hand out STS keys.
func (e *Emulator) AddTemporaryKey(id, secret, token string, expires time.Time) {
	e.keys.put(id, accessKey{secret: secret, token: token, expires: expires, arn: "acs:ram::" + e.opts.AccountID + ":assumed-role/test/test"})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
