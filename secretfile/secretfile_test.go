package secretfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/secretfile"
	"github.com/cdnpurge/cdnpurge/secretfile/secretfiletest"
)

// Each of these hung the process, ate memory or was taken as a secret
// (issue 32): each is refused at once by its type or size.
func TestReadRefusesWhatIsNoSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo, sparse := secretfiletest.Hostile(t)
	for path, want := range map[string]string{
		"/dev/zero": "character device",
		fifo:        "named pipe",
		sparse:      "larger than 64 KiB",
		dir:         "directory",
	} {
		_, err := secretfile.Read(path, secretfile.Options{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("secretfile.Read(%s) = %v, want an error naming the file and %q", path, err, want)
		}
	}
}

// A file that grows past the cap between the Stat and the read is cut and
// refused: the read itself is bounded.
func TestReadIsBounded(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, []byte(strings.Repeat("x", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secretfile.Read(p, secretfile.Options{Max: 99}); err == nil {
		t.Fatal("a file over Max was read")
	}
	if b, err := secretfile.Read(p, secretfile.Options{Max: 100}); err != nil || len(b) != 100 {
		t.Fatalf("a file of exactly Max: %d bytes, %v", len(b), err)
	}
}

// A file others may read is refused by name unless allowed; the error
// shows no content.
func TestReadLoosePermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte("s3cr3t-canary\nline2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	_, err := secretfile.Read(p, secretfile.Options{What: "webhooks.generic_token_file"})
	if !errors.Is(err, secretfile.ErrLoosePermissions) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("0644 file: %v", err)
	}
	if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "line") {
		t.Fatalf("the error shows content: %v", err)
	}
	if b, err := secretfile.Read(p, secretfile.Options{AllowLoose: true}); err != nil || string(b) != "s3cr3t-canary\nline2\n" {
		t.Fatalf("allowed: %q %v", b, err)
	}
	// A Kubernetes mount: a symlink to the file is followed.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, err := secretfile.Read(link, secretfile.Options{AllowLoose: true}); err != nil {
		t.Fatalf("through a symlink: %v", err)
	}
}

// BenchmarkReadRefusals prints the time and memory a refusal costs for
// /dev/zero, a FIFO and a 300 MB sparse file: all are refused before a
// byte is read.
func BenchmarkReadRefusals(b *testing.B) {
	fifo, sparse := secretfiletest.Hostile(b)
	for _, p := range []string{"/dev/zero", fifo, sparse} {
		b.Run(filepath.Base(p), func(b *testing.B) {
			b.ReportAllocs()
			var ms runtime.MemStats
			for b.Loop() {
				if _, err := secretfile.Read(p, secretfile.Options{}); err == nil {
					b.Fatal("accepted")
				}
			}
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heapsys-MiB")
		})
	}
}
