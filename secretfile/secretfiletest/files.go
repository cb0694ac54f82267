// Package secretfiletest makes the files a secret file must never be, for
// tests of the packages that read secret files.
package secretfiletest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Hostile returns, in a temporary directory, a FIFO nobody writes to and a
// 300 MB sparse file (no blocks on disk): the first makes a blocking open
// hang, the second a plain read allocate 300 MB.
func Hostile(tb testing.TB) (fifo, sparse string) {
	tb.Helper()
	dir := tb.TempDir()
	fifo = filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		tb.Fatal(err)
	}
	sparse = filepath.Join(dir, "sparse")
	f, err := os.OpenFile(sparse, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(300 << 20); err != nil {
		tb.Fatal(err)
	}
	return fifo, sparse
}
