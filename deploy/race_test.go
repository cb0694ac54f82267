//go:build race

package deploy

// raceBuild: the tests run with the race detector, and so does the
// serves the role matrix runs against the embedded nats-server.
const raceBuild = true
