package jobs

import (
	"slices"
	"strings"
)

// RoleNames are the names the NATS roles grant rights on: the subject
// scheme, the streams, the key-value buckets and the service's durable
// consumers. Empty fields take cdnpurge's defaults (the names
// deploy/nats/authorization.conf is written for).
type RoleNames struct {
	Subjects     Subjects
	Stream       string // work stream; its tick stream is SchedStreamName(Stream)
	StatusStream string
	// Buckets, without the KV_ of their streams.
	Idempotency, Replay, OSS, Control, Archive, History, Tasks, Schedules string
	// Consumers only the service may create, drain or delete.
	Consumers []string
}

func (n RoleNames) withDefaults() RoleNames {
	or := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	n.Stream = or(n.Stream, DefaultStreamName)
	n.StatusStream = or(n.StatusStream, DefaultStatusStreamName)
	n.Idempotency = or(n.Idempotency, DefaultIdempotencyBucket)
	n.Replay = or(n.Replay, "cdnpurge-replay")
	n.OSS = or(n.OSS, "cdnpurge-oss") // webhooks.DefaultOSSBucket
	n.Control = or(n.Control, "CDNPURGE_CONTROL")
	n.Archive = or(n.Archive, "CDNPURGE_ARCHIVE")
	n.History = or(n.History, "CDNPURGE_HISTORY")
	n.Tasks = or(n.Tasks, "CDNPURGE_TASKS")
	n.Schedules = or(n.Schedules, "CDNPURGE_SCHEDULES")
	if len(n.Consumers) == 0 {
		n.Consumers = []string{"cdnpurge-worker", "cdnpurge-archive"}
	}
	return n
}

// Role is one role of deploy/nats/authorization.conf: the subjects its
// user may publish and subscribe to. Deny wins over allow, as in
// nats-server.
type Role struct {
	// Name is the role's name in docs/security.md; User the user the sample
	// gives it.
	Name, User                      string
	Publish, DenyPublish, Subscribe []string
}

// Allows reports whether the role may publish (subscribe false) or
// subscribe to subject.
func (r Role) Allows(subscribe bool, subject string) bool {
	if subscribe {
		return slices.ContainsFunc(r.Subscribe, func(p string) bool { return SubjectMatches(p, subject) })
	}
	return slices.ContainsFunc(r.Publish, func(p string) bool { return SubjectMatches(p, subject) }) &&
		!slices.ContainsFunc(r.DenyPublish, func(p string) bool { return SubjectMatches(p, subject) })
}

// Roles returns the roles of deploy/nats/authorization.conf for names,
// least privileged first: producer, viewer, operator, webhooks, service.
// Each role holds what the commands docs/security.md gives it need, and
// nothing more; TestNATSRoleMatrix in deploy/ runs every command as every
// role to keep it so, and checks the sample against this table.
func Roles(names RoleNames) []Role {
	n := names.withDefaults()
	p := n.Subjects.p()
	api := "$JS.API."
	info := func(stream string) string { return api + "STREAM.INFO." + stream }
	// A bucket bound as it is (no create or update): read its keys, and
	// list them through an ordered consumer of one's own.
	kvRead := func(b string) []string {
		return []string{info("KV_" + b), api + "STREAM.MSG.GET.KV_" + b, api + "DIRECT.GET.KV_" + b + ".>",
			api + "CONSUMER.CREATE.KV_" + b + ".>", api + "CONSUMER.DELETE.KV_" + b + ".*"}
	}
	// A bucket bound and written, by key, without listing.
	kvUse := func(b string) []string {
		return []string{"$KV." + b + ".>", info("KV_" + b), api + "STREAM.MSG.GET.KV_" + b, api + "DIRECT.GET.KV_" + b + ".>"}
	}
	// A stream or bucket kept up to date at start.
	manage := func(stream string) []string {
		return []string{info(stream), api + "STREAM.CREATE." + stream, api + "STREAM.UPDATE." + stream}
	}
	// The purge subjects: normal and low priority (the work stream), high
	// (the urgent stream).
	purge := append([]string{p + ".purge.refresh", p + ".purge.push"}, n.Subjects.Urgent()...)
	queue := concat(purge, kvUse(n.Idempotency))
	var guard []string // the service's own consumers
	for _, c := range n.Consumers {
		guard = append(guard, api+"CONSUMER.CREATE.*."+c, api+"CONSUMER.CREATE.*."+c+".>")
	}
	for _, c := range n.Consumers {
		guard = append(guard, api+"CONSUMER.MSG.NEXT.*."+c)
	}
	for _, c := range n.Consumers {
		guard = append(guard, api+"CONSUMER.DELETE.*."+c)
	}
	read := []string{api + "INFO", info(n.Stream), api + "STREAM.MSG.GET." + n.Stream,
		info(UrgentStreamName(n.Stream)), api + "STREAM.MSG.GET." + UrgentStreamName(n.Stream),
		info(n.StatusStream), api + "CONSUMER.CREATE." + n.StatusStream + ".>",
		api + "CONSUMER.MSG.NEXT." + n.StatusStream + ".*", api + "CONSUMER.DELETE." + n.StatusStream + ".*"}
	for _, b := range []string{n.Control, n.Archive, n.History, n.Schedules} {
		read = append(read, kvRead(b)...)
	}
	// The job history is read as a stream from a time on, through a pull
	// consumer of one's own.
	read = append(read, api+"CONSUMER.MSG.NEXT.KV_"+n.History+".*")
	producer := Role{Name: "producer", User: "producer",
		Publish:   append([]string{api + "INFO"}, queue...),
		Subscribe: []string{"_INBOX.>", p + ".status.>"}}
	viewer := Role{Name: "viewer", User: "viewer", Publish: read, DenyPublish: guard, Subscribe: []string{"_INBOX.>"}}
	operator := Role{Name: "operator", User: "operator",
		Publish: concat(read, []string{"$KV." + n.Control + ".pause", "$KV." + n.Control + ".cancel.*", p + ".status.*"}, queue),
		// A cancel is reported on the job's status subject; the invalid
		// reports are the worker's.
		DenyPublish: append([]string{p + ".status." + InvalidToken}, guard...),
		Subscribe:   []string{"_INBOX.>", p + ".status.>"}}
	webhooks := Role{Name: "webhooks", User: "cdnpurge-webhooks",
		Publish: concat(purge, []string{p + ".status.>", api + "INFO"},
			manage(n.Stream), manage(UrgentStreamName(n.Stream)), manage(n.StatusStream),
			kvUse(n.Idempotency), manage("KV_"+n.Idempotency),
			kvUse(n.Replay), manage("KV_"+n.Replay),
			kvUse(n.OSS), manage("KV_"+n.OSS),
			kvRead(n.Control), manage("KV_"+n.Control),
			// Its replica heartbeat, which the console lists.
			[]string{"$KV." + n.Control + ".replica.*"}),
		Subscribe: []string{"_INBOX.>"}}
	service := Role{Name: "service", User: "cdnpurge",
		Publish: concat(purge, []string{p + ".sched.>", p + ".status.>", api + ">",
			"$JS.ACK." + n.Stream + ".>", "$JS.ACK." + UrgentStreamName(n.Stream) + ".>", "$JS.ACK." + SchedStreamName(n.Stream) + ".>", "$JS.ACK." + n.StatusStream + ".>",
			"$KV." + n.Schedules + ".>", "$KV." + n.Tasks + ".>", "$KV." + n.Control + ".>", "$KV." + n.Archive + ".>", "$KV." + n.History + ".>",
			"$KV." + n.Idempotency + ".>", "$KV." + n.Replay + ".>", "$KV." + n.OSS + ".>"}),
		Subscribe: []string{"_INBOX.>", p + ".status.>", "$JS.EVENT.ADVISORY.>"}}
	return []Role{producer, viewer, operator, webhooks, service}
}

// concat joins lists, each subject once.
func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// RoleAllowing returns the least privileged of roles that may publish (or
// subscribe to) subject, and false when none may.
func RoleAllowing(roles []Role, subscribe bool, subject string) (Role, bool) {
	for _, r := range roles {
		if r.Allows(subscribe, subject) {
			return r, true
		}
	}
	return Role{}, false
}

// SubjectMatches reports whether subject matches the NATS subject pattern:
// "*" stands for one token, a final ">" for one or more.
func SubjectMatches(pattern, subject string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, t := range pt {
		if t == ">" && i == len(pt)-1 {
			return len(st) > i
		}
		if i >= len(st) || (t != "*" && t != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}
