package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

func TestAdminServesMetricsHealthAndPprofOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("cdnpurge_up 1\n")) })
	get := func(h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	plain := NewAdmin(AdminConfig{}, "/custom-metrics", metrics, nil).Handler()
	for path, want := range map[string]int{"/custom-metrics": 200, "/healthz": 200, "/debug/pprof/": 404, "/readyz": 404, "/hooks/generic": 404} {
		if got := get(plain, path); got != want {
			t.Errorf("without pprof: %s = %d, want %d", path, got, want)
		}
	}
	prof := NewAdmin(AdminConfig{Pprof: true}, "/metrics", nil, nil).Handler()
	for path, want := range map[string]int{"/debug/pprof/": 200, "/debug/pprof/cmdline": 200, "/metrics": 404} {
		if got := get(prof, path); got != want {
			t.Errorf("with pprof, metrics disabled: %s = %d, want %d", path, got, want)
		}
	}
}

func TestAdminConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen, webhooks, path string
		pprof                  bool
		want                   string // "" for valid
	}{
		{"127.0.0.1:9090", ":8080", "/metrics", false, ""},
		{":9090", "0.0.0.0:8080", "/metrics", true, ""},
		{"127.0.0.1:0", ":8080", "/metrics", false, ""},
		{"9090", ":8080", "/metrics", false, "admin.listen: "},
		{"localhost:http", ":8080", "/metrics", false, "admin.listen: "},
		{"127.0.0.1:70000", ":8080", "/metrics", false, "admin.listen: "},
		{"127.0.0.1:8080", ":8080", "/metrics", false, "webhooks.listen"},
		{":8080", "10.0.0.1:8080", "/metrics", false, "webhooks.listen"},
		{"127.0.0.1:8080", "10.0.0.1:8080", "/metrics", false, ""},
		{"127.0.0.1:9090", ":8080", "/healthz", false, "metrics.path: "},
		{"127.0.0.1:9090", ":8080", "/debug/pprof/x", true, "metrics.path: "},
	} {
		err := AdminConfig{Listen: tc.listen, Pprof: tc.pprof}.Validate(tc.webhooks, tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err = %v, want one naming %s", tc, err, tc.want)
		}
	}
}

// pprof answers GET only; an admin listener on every interface is warned
// about at start, one on loopback is not (issue 32).
func TestAdminPprofGETOnlyAndWideListenWarned(t *testing.T) {
	t.Parallel()
	prof := NewAdmin(AdminConfig{Pprof: true}, "/metrics", nil, nil).Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		prof.ServeHTTP(rec, httptest.NewRequest(m, "/debug/pprof/symbol", strings.NewReader("0x1")))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s /debug/pprof/symbol: %d, want 405", m, rec.Code)
		}
	}
	for listen, warned := range map[string]bool{"127.0.0.1:0": false, "0.0.0.0:0": true} {
		logs := &jobstest.LogBuffer{}
		a := NewAdmin(AdminConfig{Listen: listen, Pprof: true}, "/metrics", nil, slog.New(slog.NewJSONHandler(logs, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		var seen string
		jobstest.Eventually(t, "the admin listener to start", 5*time.Second, func() bool {
			seen += logs.Take()
			return strings.Contains(seen, "admin listening")
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		seen += logs.Take()
		if got := strings.Contains(seen, `"level":"WARN"`); got != warned {
			t.Errorf("%s: warned %v, want %v:\n%s", listen, got, warned, seen)
		}
	}
	for listen, want := range map[string]bool{"127.0.0.1:9090": true, "localhost:9090": true, "[::1]:9090": true, ":9090": false, "0.0.0.0:9090": false, "10.0.0.5:9090": false} {
		if LoopbackListen(listen) != want {
			t.Errorf("LoopbackListen(%q) = %v", listen, !want)
		}
	}
}
