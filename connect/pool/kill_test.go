package pool_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/pool"
	"github.com/sluicehq/sluice/internal/testenv"
)

// createTopic makes a topic with one partition, so a sink file holds its
// records in log order.
func createTopic(t *testing.T, bootstrap string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}
}

// Three worker processes run two datagen → file sink pipelines with their
// tasks spread over the workers; one worker is killed with SIGKILL. Its
// tasks move to the others and go on, the supervisor starts a new worker in
// its place, and every generated record reaches the sink files
// (at-least-once: duplicates are counted, none may be missing).
func TestKillWorkerTasksMoveAndPoolRestartsIt(t *testing.T) {
	b := testenv.StartBroker(t)
	p := startPool(t, b.Addr, pool.Config{
		Capacity:       pool.Capacity{ProvisionedCapacity: &pool.ProvisionedCapacity{WorkerCount: 3}},
		SampleInterval: 200 * time.Millisecond,
	})
	waitFor(t, "3 workers running", 90*time.Second, func() bool { return p.running() == 3 })
	const perTask = 3000
	dir := t.TempDir()
	pipelines := []string{"a", "b"}
	createTopic(t, b.Addr, "gen-a", "gen-b")
	for _, n := range pipelines {
		createConnector(t, p.url, "gen-"+n, map[string]string{
			"connector.class": "DatagenConnector", "kafka.topic": "gen-" + n, "tasks.max": "3",
			"records.per.second": "300", "iterations": strconv.Itoa(perTask), "batch.size": "50",
			"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
		})
		createConnector(t, p.url, "sink-"+n, map[string]string{
			"connector.class": "FileStreamSink", "topics": "gen-" + n, "file": filepath.Join(dir, n+".txt"),
			"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
		})
	}
	// Every task runs, spread over more than one worker.
	var victim string
	waitFor(t, "all tasks running on several workers", 90*time.Second, func() bool {
		workers := map[string]bool{}
		for _, n := range pipelines {
			ok, ws := allRunning(t, p.url, "gen-"+n, 3)
			ok2, ws2 := allRunning(t, p.url, "sink-"+n, 1)
			if !ok || !ok2 {
				return false
			}
			for w := range ws {
				workers[w] = true
				victim = w
			}
			for w := range ws2 {
				workers[w] = true
			}
		}
		return len(workers) >= 2
	})
	waitFor(t, "records flowing", 60*time.Second, func() bool { return len(readSink(t, filepath.Join(dir, "a.txt"))) > 300 })

	// Kill -9 the worker that runs the last datagen task seen.
	var pid int
	for _, w := range p.Workers() {
		if "http://"+victim == w.URL {
			pid = w.PID
		}
	}
	if pid == 0 {
		t.Fatalf("worker %s not in the pool: %+v", victim, p.Workers())
	}
	t.Logf("killing worker %s (pid %d)", victim, pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, "the supervisor restarts the killed worker", 60*time.Second, func() bool {
		return p.counter(t, "sluice_connect_pool_worker_restarts_total") == 1 && p.running() == 3 && !hasPID(p, pid)
	})
	t.Logf("replacement worker running %v after the kill", time.Since(killed).Round(time.Millisecond))
	// The dead worker's tasks move and every record arrives.
	for _, n := range pipelines {
		n := n
		path := filepath.Join(dir, n+".txt")
		waitFor(t, "every record of pipeline "+n+" in the sink", 120*time.Second, func() bool {
			c := checkSequences(readSink(t, path))
			for task := int64(0); task < 3; task++ {
				if c.distinct[task] != perTask {
					return false
				}
			}
			return true
		})
		c := checkSequences(readSink(t, path))
		if len(c.gaps) > 0 {
			t.Errorf("pipeline %s: %s", n, c)
		}
		t.Logf("pipeline %s: %s", n, c)
		ok, ws := allRunning(t, p.url, "gen-"+n, 3)
		if !ok || ws[victim] {
			t.Errorf("pipeline %s: tasks %v still on the killed worker %s", n, ws, victim)
		}
	}
	if !strings.Contains(p.logs.String(), "connect pool worker exited; restarting it") {
		t.Error("the restart was not logged")
	}
}

func hasPID(p *testPool, pid int) bool {
	for _, w := range p.Workers() {
		if w.PID == pid {
			return true
		}
	}
	return false
}
