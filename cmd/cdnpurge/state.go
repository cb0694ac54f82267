package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
)

// stateFileName is the file a running serve keeps in its data directory
// (nats.embedded.store_dir) so that commands run next to it find it.
const stateFileName = "cdnpurge-serve.json"

// serveState is what a running serve tells the commands beside it. It
// never holds a secret: the emulator's account is its fixed demo pair,
// which a command finds again from cdn.emulator (config.EmulatorAccessKeyID).
type serveState struct {
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	// NATSURL is the embedded server's client URL; empty when serve uses
	// nats.url (the commands then need the same nats.url).
	NATSURL string `json:"nats_url,omitempty"`
	// Emulator is set when serve calls its in-process CDN API emulator,
	// listening at CDNEndpoint.
	Emulator    bool   `json:"emulator"`
	CDNEndpoint string `json:"cdn_endpoint,omitempty"`
	// HTTPAddr serves the hooks, /healthz and /readyz; AdminAddr the
	// operator endpoints (/metrics, pprof when enabled).
	HTTPAddr  string   `json:"http_addr,omitempty"`
	AdminAddr string   `json:"admin_addr,omitempty"`
	Hooks     []string `json:"hooks,omitempty"`
	// HistoryLost names the streams this serve's start found lost (a
	// host crash, a damaged store), for `jobs list` to say so.
	HistoryLost []string `json:"history_lost,omitempty"`
}

func statePath(storeDir string) string { return filepath.Join(storeDir, stateFileName) }

// writeServeState writes st to dir (mode 0600, replaced atomically) and
// returns a function that removes it again if it is still ours.
func writeServeState(dir string, st serveState) (remove func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, stateFileName+".*")
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o600)); err != nil {
		_ = os.Remove(tmp.Name())
		return nil, fmt.Errorf("state file: %w", err)
	}
	p := statePath(dir)
	if err := os.Rename(tmp.Name(), p); err != nil {
		_ = os.Remove(tmp.Name())
		return nil, fmt.Errorf("state file: %w", err)
	}
	return func() {
		if cur, err := readServeState(dir); err == nil && cur.PID == st.PID {
			_ = os.Remove(p)
		}
	}, nil
}

// readServeState reads the state file in dir.
func readServeState(dir string) (serveState, error) {
	var st serveState
	b, err := os.ReadFile(statePath(dir))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state file %s: %w", statePath(dir), err)
	}
	return st, nil
}

// alive reports whether process pid exists (a state file left by a killed
// serve is ignored).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// discovery is what a command took from a running serve's state file.
type discovery struct {
	file     string
	pid      int
	nats     string // NATS URL used from the file
	emulator string // emulator endpoint used from the file
}

// note says on w which endpoints came from the running serve.
func (d discovery) note(w io.Writer) {
	if d.nats == "" && d.emulator == "" {
		return
	}
	var parts []string
	if d.nats != "" {
		parts = append(parts, "NATS "+d.nats)
	}
	if d.emulator != "" {
		parts = append(parts, "the CDN API emulator at "+d.emulator)
	}
	fmt.Fprintf(w, "cdnpurge: using %s of the serve running as pid %d (from %s)\n", strings.Join(parts, " and "), d.pid, d.file)
}

// hasProblem reports whether a config error names field.
func hasProblem(err error, field string) bool {
	var fe config.FieldError
	for _, e := range leafErrors(err) {
		if errors.As(e, &fe) && fe.Field == field {
			return true
		}
	}
	return false
}

// onlyProblems reports whether err is a config error naming only fields.
func onlyProblems(err error, fields ...string) bool {
	var fe config.FieldError
	for _, e := range leafErrors(err) {
		if !errors.As(e, &fe) {
			return false
		}
		ok := false
		for _, f := range fields {
			ok = ok || fe.Field == f
		}
		if !ok {
			return false
		}
	}
	return err != nil
}

// discover looks for a running serve's state file when the config leaves
// NATS or the CDN endpoint to defaults, and layers what it finds over the
// environment: nats.url (when unset) and, when no credentials or only the
// emulator's defaults are configured, the emulator's endpoint. It reports
// whether anything changed, so that the config is loaded again.
func (a *app) discover(c *config.Config, loadErr error, load func() (*config.Config, error)) bool {
	storeDir := ""
	if c != nil {
		storeDir = c.NATS.Embedded.StoreDir
	} else {
		// The config is not usable as it is; read where the data directory
		// is from the same config with the emulator's defaults filled in.
		key := config.EnvName("cdn.emulator")
		old, had := a.env[key]
		a.env[key] = "true"
		if c2, err := load(); err == nil {
			storeDir = c2.NATS.Embedded.StoreDir
		}
		if had {
			a.env[key] = old
		} else {
			delete(a.env, key)
		}
	}
	if storeDir == "" {
		return false
	}
	st, err := readServeState(storeDir)
	if err != nil || !alive(st.PID) {
		return false
	}
	d := discovery{file: statePath(storeDir), pid: st.PID}
	changed := false
	natsSet := c != nil && c.NATS.URL != "" || a.lookupEnv(config.EnvName("nats.url")) != ""
	if st.NATSURL != "" && !natsSet {
		d.nats = st.NATSURL
		if c == nil || c.NATSURL() != st.NATSURL {
			a.env[config.EnvName("nats.url")] = st.NATSURL
			changed = true
		}
	}
	if st.Emulator && st.CDNEndpoint != "" {
		// A config with no CDN setup of its own (no credentials, no domains:
		// the empty config of the quick start) takes the running emulator.
		noCredentials := c == nil && onlyProblems(loadErr, "cdn.credentials", "domains")
		emulatorDefaults := c != nil && c.CDN.Emulator && c.CDN.Endpoint == apiclient.CDN().Endpoint
		if noCredentials || emulatorDefaults {
			a.env[config.EnvName("cdn.emulator")] = "true"
			a.env[apiclient.EnvEndpoint] = st.CDNEndpoint
			// The emulator answers the DCDN actions too (service status --ipa).
			a.env[config.EnvName("cdn.dcdn_endpoint")] = st.CDNEndpoint
			d.emulator = st.CDNEndpoint
			changed = true
		}
	}
	a.discovery = d
	return changed
}

// errNoCDN is returned by setup.apiClient for commands that were let in
// without CDN credentials because they need only NATS.
var errNoCDN = errors.New("no AccessKey pair configured: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or cdn.credentials_file")

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runningHTTPAddr is the HTTP address of a serve running beside, from its
// state file in the data directory of the config (or the default one).
func (a *app) runningHTTPAddr() string {
	dir := a.lookupEnv(config.EnvName("nats.embedded.store_dir"))
	a.natsOnly = true
	if c, err := a.loadConfig(); err == nil {
		dir = c.NATS.Embedded.StoreDir
	}
	if dir == "" {
		dir = embedded.DefaultStoreDir
	}
	st, err := readServeState(dir)
	if err != nil || !alive(st.PID) || st.HTTPAddr == "" {
		return ""
	}
	return st.HTTPAddr
}
