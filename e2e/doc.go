// Package e2e is a black-box harness for cdnpurge. It builds the binary,
// runs it as separate processes (two `serve` replicas, the CDN API emulator
// with its test-only admin API, a nats-server and Redis), drives it only
// through its public interfaces (HTTP hooks, NATS subjects, /metrics on the
// admin listener), breaks things (SIGKILL, NATS and Redis restarts, API
// outages, an exhausted quota, bad input, hostile sources, a stopped
// domain, lost JetStream state, failing quota syncs, a second serve on one
// store, a power cut under a FUSE filesystem that keeps only flushed data)
// and prints a table of what held.
//
// Every figure in the table comes from what the emulator recorded (GET
// /_emulator/stats and /_emulator/paths) or what the processes reported
// (HTTP answers, /metrics, /proc/<pid>/status, their logs), never from the
// harness's own expectations.
//
//	go test -count=1 -run TestE2E ./e2e/                        # short: crash, NATS restart, bad input, hostile sources, lost JetStream state, second serve, secrets, power loss
//	go test -count=1 -run TestE2E ./e2e/ -args -e2e.size=full   # make e2e: every scenario
//	go test -count=1 -run TestE2E ./e2e/ -args -e2e.size=soak   # make soak: bigger and longer
//
// At the short size the scenarios run side by side (each has processes of
// its own; -parallel bounds how many at once); the longer sizes run them
// one after another so that their figures are the machine's alone.
//
// It needs nothing but this machine: /usr/sbin/nats-server when present
// (otherwise the test binary runs an embedded nats-server in a helper
// process), Redis on 127.0.0.1:6379 (its keys live under a prefix unique to
// the run and are deleted afterwards) and redis-server for the Redis restart
// scenario, which runs its own instance on a free port. Nothing but
// 127.0.0.1 is contacted.
package e2e
