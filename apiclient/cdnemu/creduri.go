package cdnemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// RotatingCredentials is an http.Handler in the shape of a credentials URI
// (ALIBABA_CLOUD_CREDENTIALS_URI): each GET answers an STS-style key pair
// of the emulator's account. Every Every fetches it mints a new key and
// retires the one before the previous, so a call signed a moment ago with
// the previous key still lands while old keys stop working, as a rotation
// with a short overlap does. The expiry it announces is inside
// credentials-go's three-minute refresh margin, so a client fetches again
// before every call.
type RotatingCredentials struct {
	Emulator *Emulator
	Every    int

	mu      sync.Mutex
	fetches int
	minted  []string
}

// ServeHTTP answers one fetch.
func (rc *RotatingCredentials) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	every := max(rc.Every, 1)
	if rc.fetches%every == 0 {
		n := len(rc.minted) + 1
		id := fmt.Sprintf("STS.rotated%04d", n)
		rc.Emulator.AddTemporaryKey(id, rc.secret(n), rc.token(n), rc.Emulator.now().Add(time.Hour))
		rc.minted = append(rc.minted, id)
		if len(rc.minted) > 2 {
			rc.Emulator.RemoveKey(rc.minted[len(rc.minted)-3])
		}
	}
	rc.fetches++
	n := len(rc.minted)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "AccessKeyId": rc.minted[n-1],
		"AccessKeySecret": rc.secret(n), "SecurityToken": rc.token(n),
		"Expiration": time.Now().Add(time.Minute).UTC().Format("2006-01-02T15:04:05Z")})
}

func (rc *RotatingCredentials) secret(n int) string { return fmt.Sprintf("rotated-secret-%04d", n) }
func (rc *RotatingCredentials) token(n int) string  { return fmt.Sprintf("rotated-token-%04d", n) }

// Minted returns how many keys have been handed out so far.
func (rc *RotatingCredentials) Minted() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.minted)
}
