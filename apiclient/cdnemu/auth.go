package cdnemu

import (
	"hash/maphash"
	"time"
)

// commonParams are required on every call (the CDN API reference, "Common
// request parameters"). Format is optional; the emulator always answers JSON.
var commonParams = []string{"Action", "Version", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"}

// timestampWindow is how far Timestamp may be from the emulator clock.
const timestampWindow = 15 * time.Minute

// authenticate runs the checks that need no state: common parameters,
// version, action, key, timestamp, signature and STS token. It returns nil
// when the call may go on. The nonce is checked later, under the lock, and
// only for a signed call, so that a forged call cannot burn a client's
// nonce. A request with an ACS3 Authorization header is checked as
// signature V3, any other as v1.
func (e *Emulator) authenticate(req *request, now time.Time) *answer {
	if req.v3 != nil {
		return e.authenticateV3(req, now)
	}
	p := req.params
	for _, name := range commonParams {
		if p.Get(name) == "" {
			return missing(name)
		}
	}
	if a := checkAction(req.action, p.Get("Version")); a != nil {
		return a
	}
	key, ok := e.keys.lookup(p.Get("AccessKeyId"))
	if !ok {
		return fail("InvalidAccessKeyId.NotFound")
	}
	if m := p.Get("SignatureMethod"); m != "HMAC-SHA1" {
		return fail("InvalidParameter", "Specified SignatureMethod "+m+" is not supported; use HMAC-SHA1.")
	}
	if v := p.Get("SignatureVersion"); v != "1.0" {
		return fail("InvalidParameter", "Specified SignatureVersion "+v+" is not supported; use 1.0.")
	}
	if a := checkTimestamp(p.Get("Timestamp"), now); a != nil {
		return a
	}
	if len(p["Signature"]) != 1 || !validV1(req.method, p, key.secret) {
		return fail("SignatureDoesNotMatch")
	}
	return key.checkToken(p.Get("SecurityToken"), now)
}

// checkAction refuses an unknown action or a version it does not serve.
func checkAction(name, version string) *answer {
	act, known := actions[name]
	if !known {
		return fail("UnsupportedOperation", "The specified action "+name+" is not supported.")
	}
	if !act.version(version) {
		return fail("InvalidVersion", "Specified parameter Version "+version+" is not valid for "+name+".")
	}
	return nil
}

// checkTimestamp refuses a malformed time or one more than 15 minutes off.
func checkTimestamp(raw string, now time.Time) *answer {
	ts, err := time.Parse(timestampFormat, raw)
	if err != nil {
		return fail("InvalidTimeStamp.Format", "Specified time stamp "+raw+" is not well formatted; use "+timestampFormat+" in UTC.")
	}
	if d := ts.Sub(now); d > timestampWindow || d < -timestampWindow {
		return fail("InvalidTimeStamp.Expired", "Specified time stamp "+raw+" is more than 15 minutes off the server time "+now.UTC().Format(timestampFormat)+".")
	}
	return nil
}

// nonceMemory is how long a nonce is remembered: a replay with the original
// Timestamp is refused as expired once now passes Timestamp+15m, and
// Timestamp is at most now+15m when the nonce is first seen.
const nonceMemory = 2 * timestampWindow

// nonceStore remembers nonces for nonceMemory, in a bounded FIFO. It keeps a
// 64-bit hash of each nonce, not the nonce, to stay small at a million
// entries; a collision, which would refuse a fresh nonce, is negligible.
type nonceStore struct {
	seed  maphash.Seed
	seen  map[uint64]struct{}
	queue []nonceEntry
	head  int
	max   int
}

type nonceEntry struct {
	hash    uint64
	expires int64
}

func newNonceStore(max int) nonceStore {
	return nonceStore{seed: maphash.MakeSeed(), seen: make(map[uint64]struct{}), max: max}
}

// use records nonce and reports whether it was new.
func (s *nonceStore) use(nonce string, now time.Time) bool {
	t := now.UnixNano()
	for s.head < len(s.queue) && (s.queue[s.head].expires <= t || len(s.queue)-s.head >= s.max) {
		delete(s.seen, s.queue[s.head].hash)
		s.head++
	}
	if s.head > 4096 && s.head*2 > len(s.queue) {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
	h := maphash.String(s.seed, nonce)
	if _, used := s.seen[h]; used {
		return false
	}
	s.seen[h] = struct{}{}
	s.queue = append(s.queue, nonceEntry{hash: h, expires: t + int64(nonceMemory)})
	return true
}
