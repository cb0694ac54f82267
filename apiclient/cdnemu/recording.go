package cdnemu

import (
	"maps"
	"net/url"
	"time"
)

// Recorded is one call the emulator answered.
type Recorded struct {
	Time   time.Time
	Method string
	Action string
	// Params are the union of query and form parameters, Signature
	// included; they never hold the secret.
	Params    url.Values
	Status    int
	Code      string // "" for a success
	RequestID string
}

// PathRecord is one path an accepted call submitted, with that call's
// RequestId.
type PathRecord struct {
	Path      string
	RequestID string
}

// recorder keeps what tests assert on: counts per action and code, the
// accepted paths, and the most recent requests and nonces.
type recorder struct {
	recordPaths bool
	requests    ring[Recorded]
	nonces      ring[string]
	actions     map[string]*actionStats
	// seconds counts every answered call per second of the emulator
	// clock (unix seconds), for the admin API's calls-per-second series.
	seconds map[int64]*secondCount
}

// secondCount is the calls answered within one second, and how many of
// them were refused.
type secondCount struct {
	calls, refused int
}

type actionStats struct {
	calls    int
	accepted int
	codes    map[string]int
	// paths and pathReq are parallel: pathReq[i] indexes reqIDs. Paths
	// share the memory of the ObjectPath they came from.
	paths   []string
	pathReq []int32
	reqIDs  []string
	// reqTimes[i] is when the call of reqIDs[i] was accepted (unix ns).
	reqTimes []int64
}

func newRecorder(limit int, recordPaths bool) recorder {
	return recorder{recordPaths: recordPaths, requests: ring[Recorded]{limit: limit},
		nonces: ring[string]{limit: limit}, actions: map[string]*actionStats{}, seconds: map[int64]*secondCount{}}
}

func (r *recorder) stats(action string) *actionStats {
	s := r.actions[action]
	if s == nil {
		s = &actionStats{codes: map[string]int{}}
		r.actions[action] = s
	}
	return s
}

// add records one answered call.
func (r *recorder) add(req *request, a *answer, now time.Time) {
	s := r.stats(req.action)
	s.calls++
	sec := r.seconds[now.Unix()]
	if sec == nil {
		sec = &secondCount{}
		r.seconds[now.Unix()] = sec
	}
	sec.calls++
	if a.failed() {
		s.codes[a.code]++
		sec.refused++
	} else {
		s.accepted++
	}
	if n := req.params.Get("SignatureNonce"); n != "" {
		r.nonces.add(n)
	}
	r.requests.add(Recorded{Time: now, Method: req.method, Action: req.action, Params: req.params,
		Status: a.status, Code: a.code, RequestID: req.id})
}

// addPaths records the paths of an accepted refresh or push.
func (r *recorder) addPaths(req *request, paths []string, now time.Time) {
	if !r.recordPaths {
		return
	}
	s := r.stats(req.action)
	idx := int32(len(s.reqIDs))
	s.reqIDs = append(s.reqIDs, req.id)
	s.reqTimes = append(s.reqTimes, now.UnixNano())
	s.paths = append(s.paths, paths...)
	for range paths {
		s.pathReq = append(s.pathReq, idx)
	}
}

// ring keeps the last limit values added.
type ring[T any] struct {
	buf   []T
	next  int
	limit int
}

func (r *ring[T]) add(v T) {
	switch {
	case r.limit <= 0:
	case len(r.buf) < r.limit:
		r.buf = append(r.buf, v)
	default:
		r.buf[r.next] = v
		r.next = (r.next + 1) % r.limit
	}
}

func (r *ring[T]) all() []T {
	out := make([]T, 0, len(r.buf))
	return append(append(out, r.buf[r.next:]...), r.buf[:r.next]...)
}

// Calls returns how many calls of action were answered, refused ones
// included.
func (e *Emulator) Calls(action string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.rec.actions[action]; s != nil {
		return s.calls
	}
	return 0
}

// Accepted returns how many calls of action succeeded.
func (e *Emulator) Accepted(action string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.rec.actions[action]; s != nil {
		return s.accepted
	}
	return 0
}

// Refused returns how many calls of action were answered with code.
func (e *Emulator) Refused(action, code string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.rec.actions[action]; s != nil {
		return s.codes[code]
	}
	return 0
}

// Codes returns the error codes action was answered with, and how often.
func (e *Emulator) Codes(action string) map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.rec.actions[action]; s != nil {
		return maps.Clone(s.codes)
	}
	return map[string]int{}
}

// Paths returns every path accepted calls of action submitted, in order.
func (e *Emulator) Paths(action string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.rec.actions[action]; s != nil {
		return append([]string(nil), s.paths...)
	}
	return nil
}

// PathRecords returns Paths(action) with the RequestId of each path's call.
func (e *Emulator) PathRecords(action string) []PathRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.rec.actions[action]
	if s == nil {
		return nil
	}
	out := make([]PathRecord, len(s.paths))
	for i, p := range s.paths {
		out[i] = PathRecord{Path: p, RequestID: s.reqIDs[s.pathReq[i]]}
	}
	return out
}

// Nonces returns the SignatureNonce of the most recent calls
// (Options.RecordRequests of them), in order, refused calls included.
func (e *Emulator) Nonces() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rec.nonces.all()
}

// Requests returns the most recent calls (Options.RecordRequests of them),
// oldest first.
func (e *Emulator) Requests() []Recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rec.requests.all()
}

// MaxPerSecond returns the largest number of calls of action that arrived
// within any one second of the emulator clock, refused ones included: what
// a client's own rate limiting let through.
func (e *Emulator) MaxPerSecond(action string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limits.maxPerSecond(action)
}

// ResetRecording forgets what was recorded; account, quota and tasks stay.
func (e *Emulator) ResetRecording() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec = newRecorder(e.rec.requests.limit, e.rec.recordPaths)
	for _, w := range e.limits.arrivals {
		w.max = 0
	}
}
