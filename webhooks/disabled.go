package webhooks

import (
	"net/http"
)

// Hook is one webhook endpoint and the setting that turns it on.
type Hook struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Enabled bool   `json:"enabled"`
	// Setting enables the endpoint when set (its YAML path).
	Setting string `json:"setting"`
}

// Hooks lists the webhook endpoints of cfg, enabled or not, so that serve
// can say at start which ones answer.
func Hooks(cfg Config) []Hook {
	return []Hook{
		{Name: "github", Path: "/hooks/github", Enabled: cfg.GitHubSecret != "", Setting: "webhooks.github_secret"},
		{Name: "gitlab", Path: "/hooks/gitlab", Enabled: cfg.GitLabToken != "", Setting: "webhooks.gitlab_token"},
		{Name: "generic", Path: "/hooks/generic", Enabled: cfg.GenericToken != "" || cfg.GenericHMACSecret != "",
			Setting: "webhooks.generic_token or webhooks.generic_hmac_secret"},
		{Name: "oss", Path: "/hooks/oss", Enabled: cfg.OSSToken != "", Setting: "webhooks.oss_token"},
	}
}

// disabledHook answers a hook that is not configured with a JSON 404 that
// names the setting that enables it. The body is read by nobody.
func disabledHook(h Hook) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Code: "hook_disabled",
			Error: "the " + h.Name + " hook is not enabled on this server: set " + h.Setting + " to enable " + h.Path})
	})
}
