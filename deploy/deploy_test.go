package deploy

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/quota"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
	"github.com/cdnpurge/cdnpurge/worker/operations"
)

// docs parses every YAML document of a file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, d)
	}
}

func get(m any, keys ...any) any {
	for _, k := range keys {
		switch v := m.(type) {
		case map[string]any:
			m = v[k.(string)]
		case []any:
			i := k.(int)
			if i >= len(v) {
				return nil
			}
			m = v[i]
		default:
			return nil
		}
	}
	return m
}

func byKind(ds []map[string]any, kind string) map[string]any {
	for _, d := range ds {
		if d["kind"] == kind {
			return d
		}
	}
	return nil
}

// The Kubernetes manifests: the ConfigMap's config passes config check with
// the Secret's variables, and ports, probes and commands agree with the code.
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	ds := docs(t, "kubernetes/cdnpurge.yaml")
	for _, kind := range []string{"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} {
		if byKind(ds, kind) == nil {
			t.Fatalf("no %s", kind)
		}
	}
	cm := byKind(ds, "ConfigMap")
	cfgText, _ := get(cm, "data", "config.yaml").(string)
	secret, _ := get(byKind(ds, "Secret"), "stringData").(map[string]any)
	env := map[string]string{}
	for k, v := range secret {
		env[k] = strings.ReplaceAll(v.(string), "REPLACE-ME", "placeholder-value-0123456789")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the ConfigMap's config fails config check: %v", err)
	}
	if c.WebhooksConfig().GitHubSecret == "" {
		t.Error("the Secret's webhook secret does not reach the config")
	}

	dep := byKind(ds, "Deployment")
	if r := get(dep, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %v, want 2", r)
	}
	ctr := get(dep, "spec", "template", "spec", "containers", 0)
	args, _ := get(ctr, "args").([]any)
	if len(args) == 0 || args[0] != "serve" || !slices.Contains(args, "/etc/cdnpurge/config.yaml") {
		t.Errorf("container args %v: want serve with the mounted config", args)
	}
	ports := map[string]any{}
	for i := range 4 {
		if n, ok := get(ctr, "ports", i, "name").(string); ok {
			ports[n] = get(ctr, "ports", i, "containerPort")
		}
	}
	if want := listenPort(t, c.Webhooks.Listen); ports["http"] != want {
		t.Errorf("containerPort http %v, but webhooks.listen is %s", ports["http"], c.Webhooks.Listen)
	}
	// Metrics are on the admin listener, scraped there, and the Service
	// does not expose it.
	if want := listenPort(t, c.Admin.Listen); ports["admin"] != want {
		t.Errorf("containerPort admin %v, but admin.listen is %s", ports["admin"], c.Admin.Listen)
	}
	ann := get(dep, "spec", "template", "metadata", "annotations")
	if p := get(ann, "prometheus.io/port"); p != strconv.Itoa(listenPort(t, c.Admin.Listen)) {
		t.Errorf("prometheus.io/port %v, but admin.listen is %s", p, c.Admin.Listen)
	}
	if p := get(ann, "prometheus.io/path"); p != c.Metrics.Path {
		t.Errorf("prometheus.io/path %v, but metrics.path is %s", p, c.Metrics.Path)
	}
	svcPorts, _ := get(byKind(ds, "Service"), "spec", "ports").([]any)
	for i := range svcPorts {
		if tp := get(svcPorts, i, "targetPort"); tp != "http" {
			t.Errorf("the Service exposes port %v; only http (the webhooks) belongs there", tp)
		}
	}
	ingress, _ := get(byKind(ds, "NetworkPolicy"), "spec", "ingress").([]any)
	for i := range ingress {
		if get(ingress, i, "ports", 0, "port") == "admin" && get(ingress, i, "from") == nil {
			t.Error("the NetworkPolicy opens the admin port to every source")
		}
	}
	if p := get(ctr, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe %v", p)
	}
	if p := get(ctr, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe %v", p)
	}
	if get(ctr, "resources", "requests") == nil {
		t.Error("no resource requests")
	}
	grace, _ := get(dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if grace <= int(c.Worker.ShutdownGrace.Seconds()) {
		t.Errorf("terminationGracePeriodSeconds %d does not leave room for worker.shutdown_grace %s", grace, c.Worker.ShutdownGrace)
	}
	if sel := get(byKind(ds, "PodDisruptionBudget"), "spec", "minAvailable"); sel != 1 {
		t.Errorf("PDB minAvailable %v", sel)
	}
}

func listenPort(t *testing.T, listen string) int {
	t.Helper()
	i := strings.LastIndexByte(listen, ':')
	var p int
	for _, c := range listen[i+1:] {
		p = p*10 + int(c-'0')
	}
	return p
}

// The compose file: its services run real subcommands with flags the binary
// has, and the replicas' environment is a valid configuration.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	d := docs(t, "compose.yaml")[0]
	services, _ := d["services"].(map[string]any)
	for _, name := range []string{"nats", "redis", "emulator", "cdnpurge-1", "cdnpurge-2"} {
		if services[name] == nil {
			t.Fatalf("no service %s", name)
		}
	}
	// The emulator's command parses with the emulator's own flags.
	cmd, _ := get(services, "emulator", "command").([]any)
	if len(cmd) == 0 || cmd[0] != "emulator" {
		t.Fatalf("emulator command %v", cmd)
	}
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o cdnemu.Options
	o.RegisterFlags(fs)
	fs.String("listen", "", "")
	var args []string
	for _, a := range cmd[1:] {
		args = append(args, a.(string))
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("emulator flags %v: %v", args, err)
	}
	env, _ := get(services, "cdnpurge-1", "environment").(map[string]any)
	if env == nil {
		t.Fatal("cdnpurge-1 inherits no environment from the x-cdnpurge anchor")
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v.(string)
		}
		return ""
	}
	c, err := config.Load("", getenv)
	if err != nil {
		t.Fatalf("the compose environment fails config check: %v", err)
	}
	if c.CDN.Endpoint != "http://emulator:9000" || c.CDN.DCDNEndpoint != "http://emulator:9000" {
		t.Errorf("endpoints %s / %s: both should point at the emulator", c.CDN.Endpoint, c.CDN.DCDNEndpoint)
	}
	if got := get(services, "cdnpurge-1", "command", 0); got != "serve" {
		t.Errorf("cdnpurge command %v", got)
	}
	// The admin port (metrics) is published on the host's loopback only.
	adminPort := strconv.Itoa(listenPort(t, c.Admin.Listen))
	for _, name := range []string{"cdnpurge-1", "cdnpurge-2"} {
		ports, _ := get(services, name, "ports").([]any)
		published := false
		for _, p := range ports {
			spec, _ := p.(string)
			if strings.HasSuffix(spec, ":"+adminPort) {
				published = true
				if !strings.HasPrefix(spec, "127.0.0.1:") {
					t.Errorf("%s publishes the admin port as %q: bind it to 127.0.0.1", name, spec)
				}
			}
		}
		if !published {
			t.Errorf("%s does not publish the admin port %s (metrics)", name, adminPort)
		}
	}
}

// The systemd unit starts serve with the config it installs, and stops
// within its timeout.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	f, err := os.Open("systemd/cdnpurge.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	envLines := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
			if k == "Environment" {
				envLines += v + "\n"
			}
		}
	}
	if !strings.HasPrefix(keys["ExecStart"], "/usr/local/bin/cdnpurge serve --config /etc/cdnpurge/config.yaml") {
		t.Errorf("ExecStart %q", keys["ExecStart"])
	}
	if keys["EnvironmentFile"] == "" || keys["StateDirectory"] != "cdnpurge" || keys["KillSignal"] != "SIGTERM" {
		t.Errorf("unit keys %v", keys)
	}
	if !strings.Contains(keys["Environment"], "CDNPURGE_") {
		t.Errorf("Environment %q", keys["Environment"])
	}
	// Every Environment= line is kept: the admin listener stays on loopback.
	if !strings.Contains(envLines, "CDNPURGE_ADMIN_LISTEN=127.0.0.1:") {
		t.Errorf("the unit does not keep admin.listen on loopback: %q", envLines)
	}
}

// The Dockerfile exposes the webhook port and checks health with a
// subcommand the binary has.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"EXPOSE 8080", `"healthcheck"`, "USER 65532", "CGO_ENABLED=0", "-X main.version=${VERSION}", "./cmd/cdnpurge"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if c, _ := config.Load("", func(k string) string {
		return map[string]string{"CDNPURGE_CDN_EMULATOR": "true"}[k]
	}); c == nil || listenPort(t, c.Webhooks.Listen) != 8080 {
		t.Error("the default webhooks.listen is not the exposed 8080")
	}
}

// Every metric the Grafana dashboard queries is one the code registers.
func TestDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	dash := readDashboard(t)
	known := registeredMetrics(t)
	name := regexp.MustCompile(`cdnpurge_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				n++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !known[base] {
					t.Errorf("panel %q queries %s, which nothing registers", p.Title, m)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d metric references found", n)
	}
}

// registeredMetrics collects the names of every cdnpurge metric.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := &describer{names: map[string]bool{}}
	worker.NewMetrics(reg)
	apiclient.NewMetrics(reg)
	if _, err := webhooks.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(quota.NewCollector(quota.NewMirror(quota.NewMemoryStore(quota.Options{}), nil, quota.MirrorConfig{})))
	if _, err := operations.NewServiceChecker(nil, nil, operations.CheckerConfig{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	return reg.names
}

// describer is a Registerer that only notes the names of what registers.
type describer struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([a-z_]+)"`)

func (d *describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	return nil
}

func (d *describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describer) Unregister(prometheus.Collector) bool { return true }

// dashboard is the part of the Grafana dashboard the tests read.
type dashboard struct {
	Panels []struct {
		Title   string                   `json:"title"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/cdnpurge-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboard
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	return dash
}
