package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/internal/testenv"
)

func runConnectorCLI(t *testing.T, url string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"connector", "--connect", url}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestConnectorCommands(t *testing.T) {
	kafka := testenv.StartBroker(t).Addr
	w, err := connect.New(connect.Config{Bootstrap: []string{kafka}, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for w.Ready() != nil {
		time.Sleep(20 * time.Millisecond)
	}
	url := "http://" + w.Addr()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sink.json")
	os.WriteFile(cfgFile, []byte(`{"name":"s1","config":{"connector.class":"FileStreamSink","topics":"t","file":"`+filepath.Join(dir, "out")+`"}}`), 0o644)

	out, errOut, code := runConnectorCLI(t, url, "create", "-f", cfgFile)
	if code != 0 || !strings.Contains(out, "s1") || !strings.Contains(out, "sink") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	_, errOut, code = runConnectorCLI(t, url, "create", "-f", cfgFile)
	if code == 0 || !strings.Contains(errOut, "already exists") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("second create: %d %q", code, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ = runConnectorCLI(t, url, "status", "s1")
		if strings.Contains(out, "task 0") && strings.Count(out, "RUNNING") == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "task 0") || strings.Count(out, "RUNNING") != 2 {
		t.Fatalf("status: %q", out)
	}
	if out, _, code = runConnectorCLI(t, url, "list", "-o", "json"); code != 0 || !strings.Contains(out, `"name": "s1"`) {
		t.Fatalf("list: %d %q", code, out)
	}
	if out, _, code = runConnectorCLI(t, url, "config", "s1"); code != 0 || !strings.Contains(out, "FileStreamSink") {
		t.Fatalf("config: %d %q", code, out)
	}
	if out, _, code = runConnectorCLI(t, url, "offsets", "s1"); code != 0 || !strings.Contains(out, "PARTITION") {
		t.Fatalf("offsets: %d %q", code, out)
	}
	for _, verb := range []string{"pause", "resume", "restart", "stop", "delete"} {
		if out, errOut, code = runConnectorCLI(t, url, verb, "s1"); code != 0 {
			t.Fatalf("%s: %d %q %q", verb, code, out, errOut)
		}
	}
	if _, errOut, code = runConnectorCLI(t, url, "status", "s1"); code == 0 || !strings.Contains(errOut, "404") {
		t.Fatalf("status after delete: %d %q", code, errOut)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name":"b","config":{"connector.class":"Nope"}}`), 0o644)
	if _, errOut, code = runConnectorCLI(t, url, "create", "-f", bad); code == 0 || !strings.Contains(errOut, "error code 400") {
		t.Fatalf("bad create: %d %q", code, errOut)
	}
}

// TestConnectServerCommand starts `sluice connect` and stops it with its
// context: a clean exit.
func TestConnectServerCommand(t *testing.T) {
	kafka := testenv.StartBroker(t).Addr
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb connectorBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"connect", "worker", "--bootstrap", kafka, "--connect-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
			"--data-dir", t.TempDir()}, strings.NewReader(""), &out, &errb)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), "connect: assignment") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 || !strings.Contains(errb.String(), "connect REST API listening") {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
}

// connectorBuffer is a bytes.Buffer safe for the command's goroutine and
// the test's polling.
type connectorBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *connectorBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *connectorBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
