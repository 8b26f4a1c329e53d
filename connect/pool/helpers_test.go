package pool_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connect/pool"
	"github.com/sluicehq/sluice/internal/testenv"
)

// lockedBuffer collects the pool's and its workers' logs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testPool struct {
	*pool.Supervisor
	url  string
	logs *lockedBuffer
	reg  *prometheus.Registry
}

// startPool runs a Supervisor of real `sluice connect worker` processes
// against bootstrap until the test ends.
func startPool(t *testing.T, bootstrap string, cfg pool.Config) *testPool {
	t.Helper()
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	cfg.Bootstrap = []string{bootstrap}
	cfg.Command = []string{testenv.SluiceBinary(t), "connect", "worker"}
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = testLogger(logs)
	cfg.Registerer = reg
	cfg.WorkerOutput = logs
	cfg.StopTimeout = 30 * time.Second
	s, err := pool.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pool Run: %v", err)
		}
		if t.Failed() {
			t.Logf("pool logs:\n%s", tail(logs.String(), 200))
		}
	})
	return &testPool{Supervisor: s, url: "http://" + s.Addr(), logs: logs, reg: reg}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// running counts the workers that have joined and are not stopping.
func (p *testPool) running() (n int) {
	for _, w := range p.Workers() {
		if w.State == "RUNNING" {
			n++
		}
	}
	return n
}

// counter reads a counter of the pool's registry (labels as name=value).
func (p *testPool) counter(t *testing.T, name string, label ...string) float64 {
	t.Helper()
	mfs, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(label); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == label[i] && lp.GetValue() == label[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// waitFor polls cond until it holds; the deadline only catches a condition
// that never comes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call sends a JSON request and decodes a JSON answer.
func call(t *testing.T, method, url string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func createConnector(t *testing.T, base, name string, cfg map[string]string) {
	t.Helper()
	var out any
	for deadline := time.Now().Add(60 * time.Second); ; {
		code := call(t, "POST", base+"/connectors", map[string]any{"name": name, "config": cfg}, &out)
		if code == http.StatusCreated {
			return
		}
		// 409 with no leader yet (a rebalance) or 503 while no worker is ready.
		if time.Now().After(deadline) {
			t.Fatalf("create %s: %d %v", name, code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type taskStatus struct {
	ID       int    `json:"id"`
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace"`
}

type connectorStatus struct {
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"connector"`
	Tasks []taskStatus `json:"tasks"`
}

func status(t *testing.T, base, name string) connectorStatus {
	t.Helper()
	var st connectorStatus
	call(t, "GET", base+"/connectors/"+name+"/status", nil, &st)
	return st
}

// allRunning reports whether the connector and n tasks run, and on which
// workers.
func allRunning(t *testing.T, base, name string, n int) (bool, map[string]bool) {
	st := status(t, base, name)
	workers := map[string]bool{}
	if st.Connector.State != "RUNNING" || len(st.Tasks) != n {
		return false, nil
	}
	for _, tk := range st.Tasks {
		if tk.State != "RUNNING" {
			return false, nil
		}
		workers[tk.WorkerID] = true
	}
	return true, workers
}

// sinkLine is one datagen record as the file sink wrote it.
type sinkLine struct {
	Task int64 `json:"task"`
	Seq  int64 `json:"seq"`
}

// readSink parses the sink file's lines (a line still being written is
// skipped).
func readSink(t *testing.T, path string) []sinkLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var out []sinkLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l sinkLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// sequenceCheck is what a sink file written from one single-partition
// topic shows about each datagen task, in file (= log) order: each record
// is either the previous one's successor, or a rewind to an earlier seq
// (records since the last committed offset delivered again after a task
// moved or a worker died). A forward gap would be a lost record, or two
// instances of one task producing at once (their records interleave and
// each instance skips the other's), which is what "a task never runs on two
// workers at once" forbids.
type sequenceCheck struct {
	distinct   map[int64]int64 // task -> distinct seqs
	maxSeq     map[int64]int64
	duplicates int
	rewinds    int
	gaps       []string
}

func checkSequences(lines []sinkLine) sequenceCheck {
	c := sequenceCheck{distinct: map[int64]int64{}, maxSeq: map[int64]int64{}}
	prev := map[int64]int64{}
	seen := map[[2]int64]bool{}
	for _, l := range lines {
		p, ok := prev[l.Task]
		switch {
		case !ok && l.Seq != 0:
			c.gaps = append(c.gaps, fmt.Sprintf("task %d starts at seq %d", l.Task, l.Seq))
		case ok && l.Seq > p+1:
			c.gaps = append(c.gaps, fmt.Sprintf("task %d: seq %d after %d", l.Task, l.Seq, p))
		case ok && l.Seq <= p:
			c.rewinds++
		}
		prev[l.Task] = l.Seq
		k := [2]int64{l.Task, l.Seq}
		if seen[k] {
			c.duplicates++
		} else {
			seen[k] = true
			c.distinct[l.Task]++
		}
		if l.Seq > c.maxSeq[l.Task] || !ok {
			c.maxSeq[l.Task] = max(c.maxSeq[l.Task], l.Seq)
		}
	}
	return c
}

func (c sequenceCheck) String() string {
	tasks := make([]int64, 0, len(c.distinct))
	for k := range c.distinct {
		tasks = append(tasks, k)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i] < tasks[j] })
	var b strings.Builder
	for _, k := range tasks {
		b.WriteString("task " + strconv.FormatInt(k, 10) + ": " + strconv.FormatInt(c.distinct[k], 10) + " distinct, max seq " + strconv.FormatInt(c.maxSeq[k], 10) + "; ")
	}
	fmt.Fprintf(&b, "%d duplicates, %d rewinds, gaps %v", c.duplicates, c.rewinds, c.gaps)
	return b.String()
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
