// Package admin is the operator-only HTTP listener of serve: /metrics,
// /healthz and, when asked, net/http/pprof, on admin.listen (loopback by
// default), in every role and never on the webhook port. It lives apart
// from webhooks because a worker-only replica serves it too.
package admin
