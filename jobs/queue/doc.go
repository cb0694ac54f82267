// Package queue carries the jobs of package jobs over NATS JetStream:
// connecting and authenticating (Connect, Auth), the work, status and tick
// streams, the Publisher with its retry budget and idempotency keys, the
// Screen that puts what the worker fetches through the jobs validation,
// the Supervisor that re-creates lost streams and consumers, and the NATS
// roles with the permission refusals they explain (docs/security.md).
package queue
