package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// StoreLockFile is the file in the embedded store directory that serve
// holds an exclusive lock on while it runs.
const StoreLockFile = "cdnpurge.lock"

// ErrStoreLocked says another process holds the store directory.
var ErrStoreLocked = errors.New("store directory in use")

// StoreLockedError names the directory and the process holding it.
type StoreLockedError struct {
	Dir string
	// PID of the holder, 0 when it could not be read.
	PID int
	// Setting names the config field that chooses the directory, and
	// Why what sharing it would break; the store's when empty.
	Setting, Why string
}

// Error says who holds the directory and what to do.
func (e *StoreLockedError) Error() string {
	holder := "another process (pid unknown)"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	setting, why := e.Setting, e.Why
	if setting == "" {
		setting, why = "nats.embedded.store_dir", "two servers on one JetStream store corrupt it"
	}
	return fmt.Sprintf("%s is in use by %s: %s; stop that cdnpurge serve or set another %s", e.Dir, holder, why, setting)
}

// Unwrap makes errors.Is(err, ErrStoreLocked) hold.
func (e *StoreLockedError) Unwrap() error { return ErrStoreLocked }

// StoreLock is an exclusive flock(2) on a store directory. The kernel
// releases it when the process ends, however it ends, so a crash never
// leaves a stale lock behind.
type StoreLock struct {
	f *os.File
}

// LockStoreDir creates dir if needed and takes an exclusive lock on its
// StoreLockFile, writing this process's PID into it. A second lock on the
// same directory, from this process or another, fails at once with a
// *StoreLockedError.
func LockStoreDir(dir string) (*StoreLock, error) {
	return LockDir(dir, "", "")
}

// LockDir is LockStoreDir for another directory that one serve may use at
// a time; a *StoreLockedError names setting and says why.
func LockDir(dir, setting, why string) (*StoreLock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create store directory %s: %w", abs, err)
	}
	path := filepath.Join(abs, StoreLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &StoreLockedError{Dir: abs, PID: readPID(f), Setting: setting, Why: why}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &StoreLock{f: f}, nil
}

// readPID reads the holder's PID from the lock file, 0 when it cannot.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Unlock releases the lock. The file stays: removing it would let a
// process that opened it meanwhile lock a file no longer in the directory.
func (l *StoreLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Unlock explicitly before closing: a child forked meanwhile (and not
	// yet exec'd) holds a copy of the descriptor, and closing ours alone
	// would leave the lock held until the child's copy is closed too.
	uerr := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(uerr, cerr)
}
