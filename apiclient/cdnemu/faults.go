package cdnemu

import (
	"math/rand/v2"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// Faults are failures the emulator injects into authenticated calls.
type Faults struct {
	// ErrorRate500 is the share of calls (0..1) answered 500 InternalError.
	ErrorRate500 float64
	// ErrorRate503 is the share of calls (0..1) answered 503
	// ServiceUnAvailable.
	ErrorRate503 float64
	// Latency is added, in real time, before every answer.
	Latency time.Duration
}

// faultState is the fault configuration and its random source, under e.mu.
type faultState struct {
	Faults
	rng         *rand.Rand
	outageUntil time.Time
	forced      map[string][]forcedError
	// productOutage and forcedProduct are the outage and forced errors
	// of one product's actions (cdn, dcdn, sts) alone.
	productOutage map[apiclient.Product]time.Time
	forcedProduct map[apiclient.Product][]forcedError
}

// forcedError is a code to answer the next n calls of an action with.
type forcedError struct {
	code string
	n    int
}

func newFaultState(f Faults, seed uint64) faultState {
	return faultState{Faults: f, rng: rand.New(rand.NewPCG(seed, 0xfa017)), forced: map[string][]forcedError{},
		productOutage: map[apiclient.Product]time.Time{}, forcedProduct: map[apiclient.Product][]forcedError{}}
}

// next takes one answer off the forced queue of key in m.
func next[K comparable](m map[K][]forcedError, key K) (string, bool) {
	q := m[key]
	if len(q) == 0 {
		return "", false
	}
	code := q[0].code
	if q[0].n--; q[0].n <= 0 {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(m, key)
	} else {
		m[key] = q
	}
	return code, true
}

// inject returns the forced or random error of this call, or nil: what
// was forced on the action first, then what was forced on its product.
func (f *faultState) inject(action string, p apiclient.Product) *answer {
	if code, ok := next(f.forced, action); ok {
		return fail(code)
	}
	if code, ok := next(f.forcedProduct, p); ok {
		return fail(code)
	}
	if f.ErrorRate500 == 0 && f.ErrorRate503 == 0 {
		return nil
	}
	x := f.rng.Float64()
	switch {
	case x < f.ErrorRate500:
		return fail("InternalError")
	case x < f.ErrorRate500+f.ErrorRate503:
		return fail("ServiceUnAvailable")
	}
	return nil
}

// SetFaults replaces the injected fault rates and latency.
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	e.faults.Faults = f
	e.mu.Unlock()
	e.latency.Store(int64(f.Latency))
}

// CurrentFaults returns the injected fault rates and latency.
func (e *Emulator) CurrentFaults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults.Faults
}

// SetOutage answers every call, signed or not, with 503 ServiceUnAvailable
// until the emulator clock reaches until. The zero time ends an outage.
func (e *Emulator) SetOutage(until time.Time) {
	e.mu.Lock()
	e.faults.outageUntil = until
	e.mu.Unlock()
}

// SetProductOutage is SetOutage for the actions of one product
// (apiclient.ProductCDN or ProductDCDN): a DCDN outage while CDN answers,
// say. The zero time ends it; SetOutage's window applies besides.
func (e *Emulator) SetProductOutage(p apiclient.Product, until time.Time) {
	e.mu.Lock()
	if until.IsZero() {
		delete(e.faults.productOutage, p)
	} else {
		e.faults.productOutage[p] = until
	}
	e.mu.Unlock()
}

// ForceProductError is ForceError for every action of product p
// (apiclient.ProductCDN, ProductDCDN, or "sts"): the next n authenticated
// calls of any of them are answered with code. An error forced on the
// action itself goes first.
func (e *Emulator) ForceProductError(p apiclient.Product, n int, code string) {
	if n <= 0 || code == "" || p == "" {
		return
	}
	e.mu.Lock()
	e.faults.forcedProduct[p] = append(e.faults.forcedProduct[p], forcedError{code: code, n: n})
	e.mu.Unlock()
}

// ForceError answers the next n authenticated calls of action with code
// (and the HTTP status the API gives that code; 400 for a code it does not
// know). Calls queue up: a second ForceError applies after the first.
// Forced answers come before throttling and quota, so a test can make the
// emulator throttle or refuse quota on demand.
func (e *Emulator) ForceError(action string, n int, code string) {
	if n <= 0 || code == "" {
		return
	}
	e.mu.Lock()
	e.faults.forced[action] = append(e.faults.forced[action], forcedError{code: code, n: n})
	e.mu.Unlock()
}

// ClearForcedErrors drops every pending forced error, of actions and of
// products.
func (e *Emulator) ClearForcedErrors() {
	e.mu.Lock()
	e.faults.forced = map[string][]forcedError{}
	e.faults.forcedProduct = map[apiclient.Product][]forcedError{}
	e.mu.Unlock()
}
