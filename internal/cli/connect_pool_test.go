package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connect/pool"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/testenv"
)

func TestPoolCapacityFromConfigAndFlags(t *testing.T) {
	c, err := poolCapacity(nil, 0, 0)
	if err != nil || c.AutoScaling.MinWorkerCount != 1 || c.AutoScaling.MaxWorkerCount != 2 {
		t.Fatalf("default: %+v %v", c.AutoScaling, err)
	}
	fromFile := &config.Capacity{AutoScaling: &config.AutoScaling{MinWorkerCount: 2, MaxWorkerCount: 6,
		ScaleInPolicy: config.ScalePolicy{CPUUtilizationPercentage: 10}}}
	c, err = poolCapacity(fromFile, 0, 0)
	if a := c.AutoScaling; err != nil || a.MinWorkerCount != 2 || a.MaxWorkerCount != 6 || a.McuCount != 1 ||
		a.ScaleInPolicy.CPUUtilizationPercentage != 10 || a.ScaleOutPolicy.CPUUtilizationPercentage != 80 {
		t.Fatalf("from file: %+v %v", c.AutoScaling, err)
	}
	// Flags override the bounds and keep the file's thresholds.
	c, err = poolCapacity(fromFile, 0, 3)
	if a := c.AutoScaling; err != nil || a.MinWorkerCount != 2 || a.MaxWorkerCount != 3 || a.ScaleInPolicy.CPUUtilizationPercentage != 10 {
		t.Fatalf("--max-workers 3: %+v %v", c.AutoScaling, err)
	}
	c, err = poolCapacity(&config.Capacity{ProvisionedCapacity: &config.ProvisionedCapacity{WorkerCount: 3, McuCount: 2}}, 4, 0)
	if a := c.AutoScaling; err != nil || c.ProvisionedCapacity != nil || a.MinWorkerCount != 4 || a.MaxWorkerCount != 4 || a.McuCount != 2 {
		t.Fatalf("provisioned + --min-workers 4: %+v %v", c, err)
	}
	if _, err := poolCapacity(&config.Capacity{AutoScaling: &config.AutoScaling{MinWorkerCount: 0, MaxWorkerCount: 1}}, 0, 0); err == nil ||
		!strings.Contains(err.Error(), "connect.capacity") {
		t.Fatalf("bad file capacity: %v", err)
	}
	if _, err := poolCapacity(nil, 3, 2); err == nil {
		t.Fatal("--min-workers 3 --max-workers 2 accepted")
	}
}

var poolAddrRE = regexp.MustCompile(`connect pool listening" addr=(\S+)`)

// `sluice connect pool` runs worker processes (this test binary as sluice,
// see TestMain) behind one Connect address; `sluice connect capacity` shows
// and changes the capacity, and the pool follows.
func TestConnectPoolAndCapacityCommands(t *testing.T) {
	kafka := testenv.StartBroker(t).Addr
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"connect", "pool", "--bootstrap", kafka, "--group", "cli-pool", "--connect-addr", "127.0.0.1:0",
			"--api-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--min-workers", "1", "--max-workers", "1"}, strings.NewReader(""), io.Discard, logs)
	}()
	stopped := false
	stop := func() int {
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
		if t.Failed() {
			t.Logf("pool logs:\n%s", logs.String())
		}
	})
	var url string
	waitUntil(t, "the pool to listen", 30*time.Second, func() bool {
		if m := poolAddrRE.FindStringSubmatch(logs.String()); m != nil {
			url = "http://" + m[1]
			return true
		}
		return false
	})
	capacityCLI := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"connect", "capacity", "--connect", url}, args...), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	workers := func(state string) int {
		out, _, code := capacityCLI("-o", "json")
		if code != 0 {
			return -1
		}
		var v struct {
			Workers []pool.WorkerInfo `json:"workers"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("capacity -o json: %v\n%s", err, out)
		}
		n := 0
		for _, w := range v.Workers {
			if w.State == state {
				n++
			}
		}
		return n
	}
	waitUntil(t, "one running worker", 60*time.Second, func() bool { return workers("RUNNING") == 1 })
	// The Connect API answers through the pool.
	if out, errOut, code := runConnectorCLI(t, url, "list"); code != 0 {
		t.Fatalf("connector list through the pool: %d %s %s", code, out, errOut)
	}
	out, _, code := capacityCLI()
	if code != 0 || !regexp.MustCompile(`autoScaling\s+1\s+1\s+1\s+20\s+80`).MatchString(out) || !strings.Contains(out, "worker-1") {
		t.Fatalf("capacity table (%d):\n%s", code, out)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "capacity.json")
	os.WriteFile(good, []byte(`{"provisionedCapacity":{"workerCount":2}}`), 0o644)
	if out, errOut, code := capacityCLI("-f", good); code != 0 || !strings.Contains(out, "provisionedCapacity") {
		t.Fatalf("capacity -f: %d %s %s", code, out, errOut)
	}
	waitUntil(t, "a second worker", 60*time.Second, func() bool { return workers("RUNNING") == 2 })
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"autoScaling":{"minWorkerCount":3,"maxWorkerCount":1}}`), 0o644)
	_, errOut, code := capacityCLI("-f", bad)
	if code == 0 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "maxWorkerCount (1) must be at least minWorkerCount (3)") ||
		!strings.Contains(errOut, "error code 400") {
		t.Fatalf("bad capacity: exit %d, stderr %q", code, errOut)
	}
	if code := stop(); code != 0 {
		t.Fatalf("pool exit code %d", code)
	}
	if !strings.Contains(logs.String(), "connect pool worker stopped") {
		t.Fatal("workers not stopped on shutdown")
	}
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
