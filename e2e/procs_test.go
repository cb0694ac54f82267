package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// proc is one child process, in its own process group, with its stdout and
// stderr in a log file.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}

	mu      sync.Mutex
	err     error
	peakRSS int64 // largest VmHWM read, bytes
}

// startProc starts bin with args and env (the whole environment) and makes
// sure it is gone when the test ends.
func startProc(t *testing.T, logDir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	for i := 2; ; i++ { // a restarted process keeps its earlier logs
		if _, err := os.Stat(logPath); errors.Is(err, os.ErrNotExist) {
			break
		}
		logPath = filepath.Join(logDir, fmt.Sprintf("%s.%d.log", name, i))
	}
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitErr is how the process ended (nil while it runs or after exit 0).
func (p *proc) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) {
	if p.alive() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.sampleRSS()
	p.signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (p *proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	p.sampleRSS()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// sampleRSS reads the process's peak resident set (VmHWM) and keeps the
// largest value seen.
func (p *proc) sampleRSS() int64 {
	if p.alive() {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmHWM:" {
					if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
						p.mu.Lock()
						p.peakRSS = max(p.peakRSS, kb*1024)
						p.mu.Unlock()
					}
				}
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakRSS
}

// freePort returns a loopback port that was free a moment ago and that no
// other scenario of this run was given (jobstest.FreePort).
func freePort(t *testing.T) int { return jobstest.FreePort(t) }

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitTCP waits until addr accepts connections, or the process exits.
func waitTCP(t *testing.T, p *proc, addr string, timeout time.Duration) {
	t.Helper()
	ok := waitFor(timeout, func() bool {
		if !p.alive() {
			return true
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if !ok || !p.alive() {
		t.Fatalf("%s did not listen on %s (exit: %v); log %s:\n%s", p.name, addr, p.exitErr(), p.logPath, tail(p.logPath, 30))
	}
}

// waitHTTP waits until GET url answers 200, or the process exits.
func waitHTTP(t *testing.T, p *proc, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	ok := waitFor(timeout, func() bool {
		if !p.alive() {
			return true
		}
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ok || !p.alive() {
		t.Fatalf("%s: %s not ready (exit: %v); log %s:\n%s", p.name, url, p.exitErr(), p.logPath, tail(p.logPath, 30))
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// baseEnv is this process's environment without anything that would
// configure cdnpurge behind the harness's back.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CDNPURGE_") || strings.HasPrefix(kv, "ALIBABA_CLOUD_") || strings.HasPrefix(kv, natsHelperEnv) {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ctxFor is a context that ends with the test or after d.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
