//go:build race

package deploy

// raceBuild: the tests run with the race detector, and so does the
// cdnpurge they build.
const raceBuild = true
