package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// AuthorizationSample is where the roles of Roles are written down for
// nats-server.
const AuthorizationSample = "deploy/nats/authorization.conf"

// PermissionError is a NATS permissions violation: the server refused the
// user a publish or a subscription. NATS answers it apart from the request
// that caused it (which would otherwise wait for its timeout), so a client
// learns of it through a Refusals on its connection.
type PermissionError struct {
	// User is the NATS user, "" when the connection authenticates by nkey,
	// credentials file or token.
	User string
	// Subscribe is set for a refused subscription, else a publish (a
	// JetStream API call, a key-value write, an ack) was refused.
	Subscribe bool
	Subject   string
	// Role is the least privileged role of the sample that allows it, ""
	// when none does.
	Role string
}

// Error says who may not do what, and which role of the sample may.
func (e *PermissionError) Error() string {
	who := "this NATS user"
	if e.User != "" {
		who = "NATS user " + e.User
	}
	verb := "publish to"
	if e.Subscribe {
		verb = "subscribe to"
	}
	role := "no role in " + AuthorizationSample + " allows it"
	if e.Role != "" {
		role = "role " + e.Role + " in " + AuthorizationSample + " allows it"
	}
	msg := fmt.Sprintf("%s may not %s %s (%s)", who, verb, e.Subject, role)
	if name, ok := strings.CutPrefix(e.Subject, "$JS.API.STREAM.CREATE."); ok && !e.Subscribe {
		// Only a missing stream or bucket is created.
		msg += fmt.Sprintf("; %s does not exist yet: cdnpurge serve creates it at start, so start serve first", strings.TrimPrefix(name, "KV_"))
	}
	return msg
}

// Unwrap returns nats.ErrPermissionViolation.
func (e *PermissionError) Unwrap() error { return nats.ErrPermissionViolation }

// violation is what nats.go reports for a refused publish or subscription:
// `Permissions Violation for Publish to "subject"` or `... for
// Subscription to "subject"` (with ` using queue "q"` for a queue group).
var violation = regexp.MustCompile(`Permissions Violation for (Publish|Subscription) to "([^"]+)"`)

// ParsePermissionError reads a permissions violation reported by nats.go
// for user, naming the least privileged of roles that allows it. ok is
// false for any other error.
func ParsePermissionError(err error, user string, roles []Role) (*PermissionError, bool) {
	if err == nil || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil, false
	}
	m := violation.FindStringSubmatch(err.Error())
	if m == nil {
		return nil, false
	}
	pe := &PermissionError{User: user, Subscribe: m[1] == "Subscription", Subject: m[2]}
	if r, ok := RoleAllowing(roles, pe.Subscribe, pe.Subject); ok {
		pe.Role = r.Name
	}
	return pe, true
}

// Refusals collects the permission violations NATS reports on a
// connection. Install it with Option; the first refusal is kept for Err,
// and each one is passed to the notify function (a CLI cancels its command
// with it, serve logs it).
type Refusals struct {
	user   string
	roles  []Role
	log    *slog.Logger
	notify func(*PermissionError)

	mu    sync.Mutex
	first *PermissionError
}

// NewRefusals returns a Refusals for a connection as user (see
// PermissionError.User), naming roles in its errors. notify may be nil.
func NewRefusals(user string, roles []Role, log *slog.Logger, notify func(*PermissionError)) *Refusals {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Refusals{user: user, roles: roles, log: log, notify: notify}
}

// Option is the connection's error handler: it records permission
// violations and logs other asynchronous errors (a slow consumer).
func (r *Refusals) Option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { r.handle(err) })
}

func (r *Refusals) handle(err error) {
	pe, ok := ParsePermissionError(err, r.user, r.roles)
	if !ok {
		r.log.Warn("nats error", slog.String("error", err.Error()))
		return
	}
	r.mu.Lock()
	if r.first == nil {
		r.first = pe
	}
	r.mu.Unlock()
	if r.notify != nil {
		r.notify(pe)
	}
}

// Err returns the first refusal, or nil.
func (r *Refusals) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == nil {
		return nil
	}
	return r.first
}
