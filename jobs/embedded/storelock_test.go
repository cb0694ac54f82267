package embedded

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestStoreLockRefusesSecondOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() + "/store"
	first, err := LockStoreDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockStoreDir(dir)
	var locked *StoreLockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("second lock: got %v, want a StoreLockedError", err)
	}
	if locked.PID != os.Getpid() || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error should name pid %d: %v", os.Getpid(), err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := LockStoreDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	_ = again.Unlock()
}

// TestStoreLockHelperProcess holds a lock for TestStoreLockAcrossProcesses.
func TestStoreLockHelperProcess(t *testing.T) {
	dir := os.Getenv("CDNPURGE_TEST_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	l, err := LockStoreDir(dir)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	_, _ = io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
	_ = l.Unlock()
	os.Exit(0)
}

func TestStoreLockAcrossProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreLockHelperProcess$")
	// GORACE: a race-built test binary sleeps a second at exit otherwise.
	cmd.Env = append(os.Environ(), "CDNPURGE_TEST_LOCK_DIR="+dir, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper process: %q %v", line, err)
	}
	_, err = LockStoreDir(dir)
	var locked *StoreLockedError
	if !errors.As(err, &locked) || locked.PID != cmd.Process.Pid {
		t.Fatalf("lock held by pid %d: got %v", cmd.Process.Pid, err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)) || !strings.Contains(err.Error(), "nats.embedded.store_dir") {
		t.Errorf("message should name the pid and the setting: %v", err)
	}
	stdin.Close()
	_ = cmd.Wait()
	l, err := LockStoreDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder exited: %v", err)
	}
	_ = l.Unlock()
}
