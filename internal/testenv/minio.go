package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// MinIO credentials of every server StartMinIO starts.
const (
	MinIOUser     = "sluice-test"
	MinIOPassword = "sluice-test-secret"
)

// MinIO is an S3 server started for one test.
type MinIO struct {
	Endpoint string // http://127.0.0.1:port
	Dir      string // data directory

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// MinIOBinary finds the MinIO server `make testdeps` builds: $SLUICE_TOOLS/minio
// or ~/.cache/sluice/bin/minio.
func MinIOBinary() (string, error) {
	dir := os.Getenv("SLUICE_TOOLS")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".cache", "sluice", "bin")
	}
	p := filepath.Join(dir, "minio")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("MinIO not found at %s: run `make testdeps`", p)
	}
	return p, nil
}

// StartMinIO runs a MinIO server on a free loopback port with a fresh data
// directory and stops it at cleanup. A missing binary fails the test with
// instructions: tests never skip.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin, err := MinIOBinary()
	if err != nil {
		t.Fatal(err)
	}
	m := &MinIO{Dir: t.TempDir(), logs: &syncBuffer{}, done: make(chan struct{})}
	// The port may be taken between freePort and MinIO's bind; try again.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		console, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		m.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		m.cmd = exec.Command(bin, "server", "--quiet", "--address", "127.0.0.1:"+strconv.Itoa(port),
			"--console-address", "127.0.0.1:"+strconv.Itoa(console), m.Dir)
		m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+MinIOUser, "MINIO_ROOT_PASSWORD="+MinIOPassword,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off")
		m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
		m.done = make(chan struct{})
		if err := m.cmd.Start(); err != nil {
			t.Fatalf("starting MinIO: %v", err)
		}
		go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(m.cmd, m.done)
		if err := m.waitLive(60 * time.Second); err == nil {
			break
		} else if attempt == 2 {
			m.Stop()
			t.Fatalf("MinIO did not start: %v\n%s", err, m.logs.String())
		}
		m.Stop()
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("MinIO logs:\n%s", m.logs.String())
		}
	})
	return m
}

func (m *MinIO) waitLive(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+"/minio/health/live", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.done:
			return fmt.Errorf("MinIO exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop kills the server (its data is scratch) and waits for it.
func (m *MinIO) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

// Logs returns what the server has written.
func (m *MinIO) Logs() string { return m.logs.String() }
