package connect

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// countingSource's tasks count their starts per connector and produce
// nothing.
type countingSource struct{ cfg map[string]string }

var taskStarts = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

func starts(name string) int {
	taskStarts.Lock()
	defer taskStarts.Unlock()
	return taskStarts.m[name]
}

func (c *countingSource) ConfigDef() plugin.ConfigDef       { return nil }
func (c *countingSource) Start(cfg map[string]string) error { c.cfg = cfg; return nil }
func (c *countingSource) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{"name": c.cfg["name"], "index": strconv.Itoa(i)}
	}
	return out, nil
}
func (c *countingSource) Stop() error                { return nil }
func (c *countingSource) NewTask() plugin.SourceTask { return &countingTask{} }

type countingTask struct{}

func (countingTask) Start(_ plugin.TaskContext, cfg map[string]string) error {
	taskStarts.Lock()
	taskStarts.m[cfg["name"]]++
	taskStarts.Unlock()
	return nil
}
func (countingTask) Poll(ctx context.Context) ([]*plugin.SourceRecord, error) {
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
	return nil, nil
}
func (countingTask) Commit() error { return nil }
func (countingTask) Stop() error   { return nil }

func init() {
	plugin.Register(plugin.Plugin{Class: "io.sluice.test.CountingSourceConnector", Kind: plugin.Source, New: func() plugin.Connector { return &countingSource{} }})
}

// runningTasks is how many of a connector's tasks report RUNNING.
func runningTasks(t *testing.T, url, name string) int {
	_, b := call(t, "GET", url+"/connectors/"+name+"/status", nil)
	var st struct {
		Tasks []struct {
			State string `json:"state"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(b, &st)
	n := 0
	for _, x := range st.Tasks {
		if x.State == "RUNNING" {
			n++
		}
	}
	return n
}

// With incremental cooperative rebalancing, changes elsewhere in the
// cluster (a connector added, another changed, restarted or deleted) leave
// a connector's running tasks alone; only a change of its own restarts them.
func TestCooperativeRebalanceKeepsTasks(t *testing.T) {
	kafka := startKafka(t)
	w1 := startWorker(t, kafka)
	w2 := startWorker(t, kafka)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	a, b := "coop-a-"+suffix, "coop-b-"+suffix
	create := func(name string, tasks int) {
		t.Helper()
		st, body := call(t, "POST", w1.url+"/connectors", map[string]any{"name": name, "config": map[string]string{
			"connector.class": "io.sluice.test.CountingSourceConnector", "tasks.max": strconv.Itoa(tasks)}})
		if st != 201 {
			t.Fatalf("create %s: %d %s", name, st, body)
		}
		waitFor(t, name+" running", func() bool { return runningTasks(t, w1.url, name) == tasks })
	}
	create(a, 3)
	// The tasks are spread over both workers.
	waitFor(t, "spread", func() bool {
		_, body := call(t, "GET", w1.url+"/connectors/"+a+"/status", nil)
		var st struct {
			Tasks []struct {
				WorkerID string `json:"worker_id"`
			} `json:"tasks"`
		}
		_ = json.Unmarshal(body, &st)
		ws := map[string]bool{}
		for _, x := range st.Tasks {
			ws[x.WorkerID] = true
		}
		return len(ws) == 2
	})
	before := starts(a)

	create(b, 3)
	st, body := call(t, "PUT", w2.url+"/connectors/"+b+"/config", map[string]string{
		"connector.class": "io.sluice.test.CountingSourceConnector", "tasks.max": "2"})
	if st != 200 {
		t.Fatalf("update b: %d %s", st, body)
	}
	waitFor(t, "b resized", func() bool { return runningTasks(t, w1.url, b) == 2 })
	if st, body = call(t, "POST", w1.url+"/connectors/"+b+"/restart?includeTasks=true", nil); st != 202 {
		t.Fatalf("restart b: %d %s", st, body)
	}
	bStarts := starts(b)
	waitFor(t, "b restarted", func() bool { return starts(b) >= bStarts+2 })
	if st, _ = call(t, "DELETE", w1.url+"/connectors/"+b, nil); st != 204 {
		t.Fatalf("delete b: %d", st)
	}
	waitFor(t, "b gone", func() bool {
		st, _ := call(t, "GET", w2.url+"/connectors/"+b, nil)
		return st == 404
	})
	if got := starts(a); got != before {
		t.Fatalf("%s's tasks were restarted by changes to %s: %d starts, %d before", a, b, got, before)
	}
	if runningTasks(t, w1.url, a) != 3 {
		t.Fatal("a's tasks no longer running")
	}

	// Restarting one task restarts just that one, on the worker that runs
	// it, whichever worker takes the request.
	_, body = call(t, "GET", w1.url+"/connectors/"+a+"/status", nil)
	var ast struct {
		Tasks []struct {
			ID       int    `json:"id"`
			WorkerID string `json:"worker_id"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(body, &ast)
	for _, task := range ast.Tasks {
		for _, via := range []*testWorker{w1, w2} {
			n := starts(a)
			if st, body := call(t, "POST", via.url+"/connectors/"+a+"/tasks/"+strconv.Itoa(task.ID)+"/restart", nil); st != 204 {
				t.Fatalf("restart task %d (on %s) via %s: %d %s", task.ID, task.WorkerID, via.url, st, body)
			}
			waitFor(t, "task restarted", func() bool { return starts(a) >= n+1 })
		}
	}
	// One start per restart: no other task of a restarted.
	waitFor(t, "restarts counted", func() bool { return starts(a) == before+2*len(ast.Tasks) })
	before = starts(a)

	// A change to a itself restarts its tasks.
	st, body = call(t, "PUT", w2.url+"/connectors/"+a+"/config", map[string]string{
		"connector.class": "io.sluice.test.CountingSourceConnector", "tasks.max": "3", "extra": "1"})
	if st != 200 {
		t.Fatalf("update a: %d %s", st, body)
	}
	waitFor(t, "a restarted", func() bool { return starts(a) >= before+3 })

	// A worker leaving: its tasks move to the other, the others stay put.
	w2.stop()
	waitFor(t, "a on w1 only", func() bool { return runningTasks(t, w1.url, a) == 3 })
}
