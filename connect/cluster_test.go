package connect

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterFailover runs two workers: tasks spread over both; when one
// stops, its tasks move to the other; a datagen -> file sink pipeline ends
// with every generated record in the file. The guarantee is at-least-once
// (a record may appear twice after a move; none is missing), and that is
// what this test checks.
func TestClusterFailover(t *testing.T) {
	kafka := startKafka(t)
	w1 := startWorker(t, kafka)
	w2 := startWorker(t, kafka)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	const tasks, perTask = 4, 400

	st, body := call(t, "POST", w1.url+"/connectors", map[string]any{"name": "gen", "config": map[string]string{
		"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector", "kafka.topic": "pipe", "tasks.max": fmt.Sprint(tasks),
		"records.per.second": "200", "iterations": fmt.Sprint(perTask)}})
	if st != 201 {
		t.Fatalf("create gen = %d %s", st, body)
	}
	st, body = call(t, "POST", w2.url+"/connectors", map[string]any{"name": "sink", "config": map[string]string{
		"connector.class": "FileStreamSink", "topics": "pipe", "file": out}})
	if st != 201 {
		t.Fatalf("create sink = %d %s", st, body)
	}

	// Writes reach the leader whichever worker takes them: a second create
	// through either worker is a conflict.
	for _, w := range []*testWorker{w1, w2} {
		st, body := call(t, "POST", w.url+"/connectors", map[string]any{"name": "gen", "config": map[string]string{
			"connector.class": "DatagenConnector", "kafka.topic": "other"}})
		expectError(t, st, body, 409)
	}

	workersOf := func(url string) map[string]int {
		got := map[string]int{}
		for _, c := range []string{"gen", "sink"} {
			_, b := call(t, "GET", url+"/connectors/"+c+"/status", nil)
			var st struct {
				Tasks []struct {
					State    string `json:"state"`
					WorkerID string `json:"worker_id"`
				} `json:"tasks"`
			}
			_ = json.Unmarshal(b, &st)
			for _, ts := range st.Tasks {
				if ts.State == "RUNNING" {
					got[ts.WorkerID]++
				}
			}
		}
		return got
	}
	waitFor(t, "tasks on both workers", func() bool {
		w := workersOf(w1.url)
		return w[w1.w.Addr()] > 0 && w[w2.w.Addr()] > 0 && w[w1.w.Addr()]+w[w2.w.Addr()] == tasks+1
	})

	w2.stop()
	waitFor(t, "all tasks on the surviving worker", func() bool {
		return workersOf(w1.url)[w1.w.Addr()] == tasks+1
	})

	want := map[string]bool{}
	for i := 0; i < tasks; i++ {
		for s := 0; s < perTask; s++ {
			want[fmt.Sprintf("%d-%d", i, s)] = true
		}
	}
	missing := func() int {
		b, _ := os.ReadFile(out)
		seen := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			var v struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(line), &v) == nil {
				seen[v.ID] = true
			}
		}
		n := 0
		for id := range want {
			if !seen[id] {
				n++
			}
		}
		return n
	}
	waitFor(t, "every generated record in the sink file", func() bool { return missing() == 0 })
}
