package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// FuzzLoad feeds arbitrary bytes as a config file: Load may refuse them but
// must never panic.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../deploy/cdnpurge.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(""))
	f.Add([]byte("domains: [example.com]\nworker: {linger: 1s}\n"))
	f.Add([]byte("cdn:\n  credentials: {access_key_id: x}\n"))
	f.Add([]byte("schedules:\n  - {name: a, cron: \"@daily\", action: refresh}\n  - name: a\n"))
	f.Add([]byte("worker: [1, 2]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("---\n---\n"))
	dir := f.TempDir()
	getenv := env(creds)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, getenv)
		if err == nil {
			if _, err := c.YAML(); err != nil {
				t.Errorf("valid config does not print: %v", err)
			}
		}
	})
}
