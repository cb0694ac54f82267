// Package deploy holds the deployment files of cdnpurge (Kubernetes
// manifests, a compose file, a systemd unit, a Grafana dashboard) and the
// tests that check them against the code, since no container engine or
// cluster runs them in CI. It has no code of its own.
package deploy
