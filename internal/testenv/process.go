package testenv

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// SluiceBinary builds ./cmd/sluice once per test process and returns its
// path, for tests that run Sluice as real processes (kill -9, worker
// pools). The binary lives in the user's cache directory and is replaced
// atomically, so packages testing in parallel do not trip over each other.
func SluiceBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(self), "..", "..")
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		// One binary per checkout: a worktree's tests must not restart a
		// worker from another checkout's build.
		abs, _ := filepath.Abs(root)
		dir := filepath.Join(cache, "sluice", "testbin", fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(abs))))
		if binaryErr = os.MkdirAll(dir, 0o755); binaryErr != nil {
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf("sluice.%d.tmp", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/sluice")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
			return
		}
		binaryPath = filepath.Join(dir, "sluice")
		binaryErr = os.Rename(tmp, binaryPath)
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// Process is a Sluice command running as its own OS process.
type Process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error
}

// StartProcess runs `sluice args...` and stops it (SIGKILL if it does not
// end on SIGTERM within 10 s) when the test ends. Its stderr logs are
// printed if the test fails.
func StartProcess(t testing.TB, args ...string) *Process {
	t.Helper()
	p := &Process{logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(SluiceBinary(t), args...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting sluice %v: %v", args, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("logs of sluice %v:\n%s", args, p.Logs())
		}
	})
	return p
}

// Logs returns what the process has written so far.
func (p *Process) Logs() string { return p.logs.String() }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to 10 s, then kills. It returns the
// process's exit error (nil for a clean exit).
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
	return p.err
}

// WaitLog waits until the process's logs match re and returns the first
// submatch (or the whole match when re has no group).
func (p *Process) WaitLog(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		if m := re.FindStringSubmatch(p.Logs()); m != nil {
			return m[len(m)-1], nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %q in the logs: %w\n%s", re, ctx.Err(), p.Logs())
		case <-p.done:
			return "", fmt.Errorf("process exited (%v) before logging %q:\n%s", p.err, re, p.Logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var connectAddrRE = regexp.MustCompile(`connect REST API listening"?.* addr=(\S+)`)

// StartConnectWorker runs `sluice connect worker` against bootstrap in
// group and returns the process and its Connect REST base URL.
func StartConnectWorker(t testing.TB, bootstrap, group string, extraArgs ...string) (*Process, string) {
	t.Helper()
	args := append([]string{"connect", "worker", "--bootstrap", bootstrap, "--group", group,
		"--connect-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, extraArgs...)
	p := StartProcess(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, err := p.WaitLog(ctx, connectAddrRE)
	if err != nil {
		t.Fatal(err)
	}
	return p, "http://" + addr
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
