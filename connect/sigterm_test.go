package connect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSigtermWorkerProcess: a worker process that gets SIGTERM (what the
// pool sends to scale in) leaves the Connect group before it exits, so the
// group has only the survivor the moment it is gone, with no session
// timeout to wait out, and the survivor takes over all tasks.
func TestSigtermWorkerProcess(t *testing.T) {
	kafka := startKafka(t)
	a, b := startWorkerProcess(t, kafka), startWorkerProcess(t, kafka)
	url := "http://" + a.addr
	waitFor(t, "cluster up", func() bool {
		st, _ := call(t, "GET", url+"/connectors", nil)
		return st == 200
	})
	out := filepath.Join(t.TempDir(), "out.jsonl")
	for name, cfg := range map[string]map[string]string{
		"gen":  {"connector.class": "DatagenConnector", "kafka.topic": "term", "tasks.max": "4", "records.per.second": "500", "iterations": "-1"},
		"sink": {"connector.class": "FileStreamSink", "topics": "term", "file": out},
	} {
		waitFor(t, "create "+name, func() bool {
			st, body := call(t, "POST", url+"/connectors", map[string]any{"name": name, "config": cfg})
			if st == 409 && strings.Contains(string(body), "rebalance") {
				return false
			}
			if st != 201 {
				t.Fatalf("create %s = %d %s", name, st, body)
			}
			return true
		})
	}
	onWorker := func(worker string) int {
		n := 0
		for _, c := range []string{"gen", "sink"} {
			_, body := call(t, "GET", url+"/connectors/"+c+"/status", nil)
			n += strings.Count(string(body), fmt.Sprintf(`"state":"RUNNING","worker_id":"%s"`, worker))
		}
		return n
	}
	waitFor(t, "tasks on both workers", func() bool { return onWorker(a.addr) > 0 && onWorker(b.addr) > 0 })

	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The process exits by itself (stdin is still open).
	done := make(chan error, 1)
	go func() { _, err := b.cmd.Process.Wait(); done <- err }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, "connect-cluster")
	if err != nil {
		t.Fatal(err)
	}
	g := groups["connect-cluster"]
	if len(g.Members) != 1 {
		t.Fatalf("connect-cluster has %d members after SIGTERM: %+v", len(g.Members), g.Members)
	}
	// Both connectors and all 5 tasks (4 gen, 1 sink) end up on the survivor.
	waitFor(t, "work on the survivor", func() bool { return onWorker(a.addr) == 7 })
}
