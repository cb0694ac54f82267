package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

type githubRepo struct {
	FullName string `json:"full_name"`
}

// GitHub's limits on push payloads, from the "push" section of GitHub's
// "Webhook events and payloads" page: the commits array includes at most
// 2048 commits, and each commit reports at most 3000 changed files per
// list. A payload at a cap may have left things out.
const (
	githubMaxCommits        = 2048
	githubMaxFilesPerCommit = 3000
)

// githubPush is the part of a GitHub push payload cdnpurge reads.
type githubPush struct {
	Ref        string        `json:"ref"`
	Deleted    bool          `json:"deleted"`
	Repository githubRepo    `json:"repository"`
	Commits    []commitFiles `json:"commits"`
	HeadCommit *commitFiles  `json:"head_commit"`
	// Size is the number of commits in the push; GitHub Enterprise Server
	// sends it, github.com does not.
	Size *int `json:"size"`
}

// truncation tells whether p lists less than the push changed.
func (p githubPush) truncation() *jobs.Truncation {
	listed := len(p.Commits)
	switch {
	case p.Size != nil && *p.Size > listed:
		return &jobs.Truncation{Reason: fmt.Sprintf("the payload lists %d of the push's %d commits", listed, *p.Size), CommitsListed: listed, CommitsTotal: *p.Size}
	case listed >= githubMaxCommits:
		return &jobs.Truncation{Reason: fmt.Sprintf("the payload lists %d commits, the most GitHub sends; later ones are left out", listed), CommitsListed: listed}
	}
	for i, c := range p.Commits {
		if c.longestList() >= githubMaxFilesPerCommit {
			return &jobs.Truncation{Reason: fmt.Sprintf("commits[%d] lists %d changed files, the most GitHub reports per commit; the rest are left out", i, c.longestList()), CommitsListed: listed}
		}
	}
	return nil
}

// githubDeploymentStatus is the part of a deployment_status payload
// cdnpurge reads.
type githubDeploymentStatus struct {
	DeploymentStatus struct {
		State       string `json:"state"`
		Environment string `json:"environment"`
	} `json:"deployment_status"`
	Deployment struct {
		Ref         string `json:"ref"`
		Environment string `json:"environment"`
	} `json:"deployment"`
	Repository githubRepo `json:"repository"`
}

// hookEvent is what a GitHub or GitLab payload asks for: a change, a deploy, or
// nothing (ignore says why).
type hookEvent struct {
	change *changeEvent
	deploy *deployEvent
	ignore string
}

// parseGitHub reads a GitHub payload of the given X-GitHub-Event type.
func parseGitHub(event string, body []byte) (hookEvent, error) {
	switch event {
	case "ping":
		return hookEvent{ignore: "pong"}, nil
	case "push":
		var p githubPush
		if err := json.Unmarshal(body, &p); err != nil {
			return hookEvent{}, fmt.Errorf("push payload: %w", err)
		}
		if p.Repository.FullName == "" {
			return hookEvent{}, fmt.Errorf("push payload: repository.full_name missing")
		}
		branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
		if !ok {
			return hookEvent{ignore: fmt.Sprintf("ref %q is not a branch", p.Ref)}, nil
		}
		if p.Deleted {
			return hookEvent{ignore: "branch deleted"}, nil
		}
		ev := &changeEvent{source: "github", repo: p.Repository.FullName, branch: branch, truncated: p.truncation()}
		commits := p.Commits
		if len(commits) == 0 && p.HeadCommit != nil {
			commits = []commitFiles{*p.HeadCommit}
		}
		for _, c := range commits {
			c.addTo(ev)
		}
		return hookEvent{change: ev}, nil
	case "deployment_status":
		var p githubDeploymentStatus
		if err := json.Unmarshal(body, &p); err != nil {
			return hookEvent{}, fmt.Errorf("deployment_status payload: %w", err)
		}
		if p.DeploymentStatus.State != "success" {
			return hookEvent{ignore: fmt.Sprintf("deployment state %q", p.DeploymentStatus.State)}, nil
		}
		env := p.DeploymentStatus.Environment
		if env == "" {
			env = p.Deployment.Environment
		}
		return hookEvent{deploy: &deployEvent{source: "github", trigger: "deployment", repo: p.Repository.FullName, ref: p.Deployment.Ref, environment: env}}, nil
	}
	return hookEvent{ignore: fmt.Sprintf("event %q not handled", event)}, nil
}

// verifyGitHub checks X-Hub-Signature-256 over the raw body in constant
// time.
func verifyGitHub(secret secretfile.Secret, header string, body []byte) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// github handles POST /hooks/github. The signature covers the body, so
// only its presence and form are checked before reading; the read is
// bounded by github_body_limit and the server's buffer budget.
func (s *Server) github(w http.ResponseWriter, r *http.Request) result {
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		return refuse(http.StatusUnauthorized, "missing_signature", "missing X-Hub-Signature-256; set the webhook's secret in GitHub to the configured github_secret")
	}
	if hexSig, ok := strings.CutPrefix(sig, "sha256="); !ok || len(hexSig) != 2*sha256.Size {
		return refuse(http.StatusUnauthorized, "bad_signature", "X-Hub-Signature-256 must be the HMAC-SHA256 of the body in hex, as GitHub sends it; set the webhook's secret in GitHub")
	}
	form, herr := requireJSON(r, true)
	if herr != nil {
		return herr
	}
	body, release, herr := s.readBody(w, r, s.cfg.GitHubBodyLimit)
	if herr != nil {
		return herr
	}
	defer release()
	if !verifyGitHub(s.cfg.GitHubSecret, sig, body) {
		return refuse(http.StatusUnauthorized, "bad_signature", "X-Hub-Signature-256 does not match the body; check the webhook secret")
	}
	if form {
		vals, err := url.ParseQuery(string(body))
		if err != nil || vals.Get("payload") == "" {
			return refuse(http.StatusBadRequest, "bad_payload", "form body without a payload field; set the GitHub webhook content type to application/json")
		}
		body = []byte(vals.Get("payload"))
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "" {
		return refuse(http.StatusBadRequest, "missing_event", "missing X-GitHub-Event header")
	}
	res, err := parseGitHub(event, body)
	if err != nil {
		return refuse(http.StatusBadRequest, "bad_payload", "%v", err)
	}
	if event == "ping" {
		return pong{Status: "pong"}
	}
	dedupe := ""
	if d := r.Header.Get("X-GitHub-Delivery"); d != "" {
		dedupe = "github:" + d
	}
	return s.dispatch(r, "github", res.change, res.deploy, res.ignore, dedupe)
}

// dispatch maps a change or deploy event to jobs and accepts them.
// GitHub and GitLab cannot change what they send, so their paths are
// accepted one by one (partial): the valid ones are queued and the others
// listed in the answer.
func (s *Server) dispatch(r *http.Request, hook string, change *changeEvent, deploy *deployEvent, ignore, dedupe string) result {
	switch {
	case change != nil:
		m := mapChanges(s.cfg.Rules, *change)
		if m.truncated != nil {
			s.deps.Metrics.truncated(hook, m.truncated)
			s.log.Warn("truncated push", slog.String("hook", hook), slog.String("repo", change.repo), slog.String("branch", change.branch), slog.String("reason", m.truncated.Reason))
		}
		source := fmt.Sprintf("%s:%s@%s", change.source, change.repo, change.branch)
		if len(m.jobs) == 0 {
			if m.truncated != nil && slices.ContainsFunc(m.truncated.Rules, func(t jobs.TruncatedRule) bool { return t.Action == truncRefuse }) {
				e := refuse(http.StatusUnprocessableEntity, "truncated_push", "the push is truncated (%s) and the matching rules refuse truncated pushes; nothing was queued", m.truncated.Reason)
				e.body.Truncated = m.truncated
				s.report(r, jobs.StatusEvent{State: jobs.StateInvalid, Reason: source + ": " + e.body.Error, Truncated: m.truncated})
				return e
			}
			if len(m.refused) > 0 {
				e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "%d file(s) refused and nothing else to queue", len(m.refused))
				e.body.Problems = m.refused
				return e
			}
			if m.truncated != nil {
				a := ignored("no rule maps the listed files")
				a.Truncated = m.truncated
				return a
			}
			return ignored("no rule maps the changed files")
		}
		return s.accept(r, request{source: source, key: dedupe, jobs: m.jobs, partial: true, fileOf: m.fileOf, refused: m.refused, truncated: m.truncated})
	case deploy != nil:
		js := mapDeploy(s.cfg.Rules, *deploy)
		if len(js) == 0 {
			return ignored("no rule has deploy paths for this repository, ref and environment")
		}
		return s.accept(r, request{source: fmt.Sprintf("%s:%s@%s:%s", deploy.source, deploy.repo, deploy.ref, deploy.trigger), key: dedupe, jobs: js, partial: true})
	}
	return ignored(ignore)
}
