//go:build race

package deploy

// raceBuild: the tests run with the race detector, and so does the
// cdnpurge the role matrix runs against the embedded nats-server.
const raceBuild = true
