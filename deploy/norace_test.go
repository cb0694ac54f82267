//go:build !race

package deploy

// raceBuild: the tests run without the race detector.
const raceBuild = false
