// Package console is the operator's web console, served by `cdnpurge
// serve` on the admin listener under /console/: an overview (quota of
// each target and kind today, pauses, jobs by state, replicas), the jobs
// by state, source and priority with a search by job ID, path or URL
// prefix, a job's detail with its paths, tasks and events (live through
// server-sent events from the status stream), tasks and schedules, and
// the operator's actions (pause, resume, cancel, retry).
//
// Pages are html/template rendered on the server from files embedded in
// the binary, with a little plain JavaScript; nothing is loaded from
// elsewhere and nothing needs a build step. Actions need admin.token: an
// operator logs in with it and gets a session cookie (HttpOnly,
// SameSite=Strict), every action form carries the session's CSRF token,
// and both are compared in constant time. Without a token configured the
// console is read-only and says so. See docs/console.md.
package console
