package worker

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// message is what the worker needs of a JetStream message; jetstream.Msg
// has it.
type message interface {
	Data() []byte
	Subject() string
	Metadata() (*jetstream.MsgMetadata, error)
	Ack() error
	NakWithDelay(delay time.Duration) error
	InProgress() error
	Term() error
}

// takenJob is a job taken from the queue and not yet settled: its message
// is acked, nak'd or termed once every one of its paths has an outcome.
type takenJob struct {
	msg      message
	job      *jobs.Job
	received time.Time
	paths    int // distinct paths still to send on this delivery
	// redelivered is set when an earlier delivery may have left progress;
	// prior is that progress: paths the API accepted before.
	redelivered bool
	prior       []string
	// skipped counts paths left out because the API accepted them within
	// Config.RecentWindow; coverTasks are the task IDs of the calls that
	// covered them, when the shared record kept them (claims.go).
	skipped    int
	coverTasks []string
	// collapsed says which URLs became directory refreshes, if any.
	collapsed string

	mu          sync.Mutex
	outstanding int
	accepted    []string
	subs        []string
	requestIDs  []string
	taskIDs     []string
	// taskTargets is the product of each non-CDN task of taskIDs.
	taskTargets map[string]string
	rejected    []jobs.Problem
	// deferred is set once a path waits; deferUntil is when its reason
	// ends (zero: no known end, such as a pause until resumed) and
	// deferRecheck when the job is looked at again (zero: deferUntil).
	// asked is when the job was asked for: the stream's timestamp of its
	// message (coalescing by request time, Recent).
	asked time.Time
	// msg names the stored message the job came in (zero when unknown):
	// a delivery again of the same message asked for nothing new.
	msgAt storedMsg

	deferred     bool
	deferUntil   time.Time
	deferRecheck time.Time
	deferReason  string
	// recorded is set once a call's accepted paths were stored as the
	// job's progress (KVStore.AddProgress).
	recorded bool
	// waitsFor counts deferred paths by the target quota they wait for.
	waitsFor map[quotaPool]int
	settled  bool
}

// storedMsg names a message in its stream.
type storedMsg struct {
	stream string
	seq    uint64
}

// known reports whether m names a message.
func (m storedMsg) known() bool { return m.seq != 0 }

// outcome is what happened to one path of a job.
type outcome struct {
	kind  outcomeKind
	sub   string   // submission ID, when accepted
	reqID string   // RequestId of the call that accepted it
	tasks []string // task IDs of that submission
	// target is the product whose API accepted the call, "" for CDN.
	target string
	// until is when the reason a deferred path waits for ends (the quota
	// reset, the domain's window, the pause's end; zero when unknown),
	// recheck when it is looked at again if sooner (zero: until).
	until   time.Time
	recheck time.Time
	reason  string
	// quota is the target quota a deferred path waits for, zero for
	// other waits.
	quota quotaPool
}

type outcomeKind int

const (
	accepted outcomeKind = iota
	rejected
	deferred
	// covered: a call sent after the job asked for the path refreshed it
	// (coalescing by request time); no call of its own.
	covered
)

// resolve records the outcome of one path and reports whether that was the
// job's last outstanding path.
func (t *takenJob) resolve(path string, o outcome) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch o.kind {
	case accepted:
		t.accepted = append(t.accepted, path)
		if o.sub != "" && (len(t.subs) == 0 || t.subs[len(t.subs)-1] != o.sub) {
			t.subs = append(t.subs, o.sub)
			t.requestIDs = append(t.requestIDs, o.reqID)
			t.taskIDs = append(t.taskIDs, o.tasks...)
			if o.target != "" {
				if t.taskTargets == nil {
					t.taskTargets = map[string]string{}
				}
				for _, id := range o.tasks {
					t.taskTargets[id] = o.target
				}
			}
		}
	case rejected:
		t.rejected = append(t.rejected, jobs.Problem{Path: path, Reason: o.reason})
	case deferred:
		if o.quota != (quotaPool{}) {
			if t.waitsFor == nil {
				t.waitsFor = map[quotaPool]int{}
			}
			t.waitsFor[o.quota]++
		}
		// The job waits for its latest reason; one with no known end is
		// the latest.
		if !t.deferred || (!t.deferUntil.IsZero() && (o.until.IsZero() || o.until.After(t.deferUntil))) {
			t.deferUntil, t.deferRecheck = o.until, o.recheck
			t.deferReason = o.reason
		}
		t.deferred = true
	}
	t.outstanding--
	return t.outstanding == 0
}

// settle marks the job settled once; it reports false if it already was.
func (t *takenJob) settle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.settled {
		return false
	}
	t.settled = true
	return true
}

// takenJobs is the set of jobs taken from the queue and not yet settled.
type takenJobs struct {
	mu    sync.Mutex
	cond  *sync.Cond
	jobs  map[*takenJob]struct{}
	paths int
}

func newTakenJobs() *takenJobs {
	f := &takenJobs{jobs: map[*takenJob]struct{}{}}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *takenJobs) add(t *takenJob) {
	f.mu.Lock()
	f.jobs[t] = struct{}{}
	f.paths += t.paths
	f.mu.Unlock()
}

func (f *takenJobs) remove(t *takenJob) {
	f.mu.Lock()
	if _, ok := f.jobs[t]; ok {
		delete(f.jobs, t)
		f.paths -= t.paths
		f.cond.Broadcast()
	}
	f.mu.Unlock()
}

// waitBelow blocks while more than max paths are in flight, or until stop
// is closed.
func (f *takenJobs) waitBelow(max int, stop <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.paths > max {
		select {
		case <-stop:
			return
		default:
		}
		f.cond.Wait()
	}
}

func (f *takenJobs) snapshot() []*takenJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*takenJob, 0, len(f.jobs))
	for t := range f.jobs {
		out = append(out, t)
	}
	return out
}

// wake releases waitBelow callers, at shutdown.
func (f *takenJobs) wake() {
	f.mu.Lock()
	f.cond.Broadcast()
	f.mu.Unlock()
}
