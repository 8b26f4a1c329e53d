package connect

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// helperEnv, when set to a Kafka address, makes the test binary run one
// Connect worker instead of the tests (see TestMain): a real process the
// kill test can SIGKILL.
const helperEnv = "SLUICE_CONNECT_TEST_WORKER"

func TestMain(m *testing.M) {
	if kafka := os.Getenv(helperEnv); kafka != "" {
		os.Exit(runHelperWorker(kafka))
	}
	os.Exit(m.Run())
}

// runHelperWorker runs a worker until its stdin closes (the parent test
// ended), it gets SIGTERM (as `sluice connect worker` stops), or it is
// killed; it prints its REST address first.
func runHelperWorker(kafka string) int {
	w, err := New(Config{Bootstrap: []string{kafka}, Addr: "127.0.0.1:0", Logger: testLogger(nil)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", w.Addr())
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type workerProc struct {
	cmd  *exec.Cmd
	addr string
}

func startWorkerProcess(t *testing.T, kafka string) *workerProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+kafka)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("worker process: %q %v", line, err)
	}
	return &workerProc{cmd: cmd, addr: strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))}
}

// TestKillWorkerProcess runs three worker processes; tasks spread over
// them; SIGKILL of one moves its tasks to the others (after the group's
// session timeout) and a datagen -> file sink pipeline still ends with
// every record in the file (at-least-once).
func TestKillWorkerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a group session timeout")
	}
	kafka := startKafka(t)
	var procs []*workerProc
	for i := 0; i < 3; i++ {
		procs = append(procs, startWorkerProcess(t, kafka))
	}
	url := "http://" + procs[0].addr
	waitFor(t, "cluster up", func() bool {
		st, _ := call(t, "GET", url+"/connectors", nil)
		return st == 200
	})
	out := filepath.Join(t.TempDir(), "out.jsonl")
	const tasks, perTask = 5, 300
	create := func(name string, cfg map[string]string) {
		waitFor(t, "create "+name, func() bool {
			st, body := call(t, "POST", url+"/connectors", map[string]any{"name": name, "config": cfg})
			if st == 409 && strings.Contains(string(body), "rebalance") {
				return false // no leader known yet
			}
			if st != 201 {
				t.Fatalf("create %s = %d %s", name, st, body)
			}
			return true
		})
	}
	create("gen", map[string]string{"connector.class": "DatagenConnector", "kafka.topic": "killed", "tasks.max": fmt.Sprint(tasks),
		"records.per.second": "60", "iterations": fmt.Sprint(perTask)})
	create("sink", map[string]string{"connector.class": "FileStreamSink", "topics": "killed", "file": out})

	running := func() map[string]int {
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
	waitFor(t, "tasks on all three workers", func() bool {
		r := running()
		if os.Getenv("CONNECT_TEST_LOG") != "" {
			for _, p := range procs {
				_, b := call(t, "GET", "http://"+p.addr+"/connectors/gen/status", nil)
				t.Logf("%s: %v %s", p.addr, r, b)
			}
		}
		return len(r) == 3 && r[procs[0].addr]+r[procs[1].addr]+r[procs[2].addr] == tasks+1
	})

	victim := procs[2]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "tasks moved off the killed worker", func() bool {
		r := running()
		return r[victim.addr] == 0 && r[procs[0].addr]+r[procs[1].addr] == tasks+1
	})

	waitFor(t, "every generated record in the sink file", func() bool {
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
		for i := 0; i < tasks; i++ {
			for s := 0; s < perTask; s++ {
				if !seen[fmt.Sprintf("%d-%d", i, s)] {
					return false
				}
			}
		}
		return true
	})
}
