package streams

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/spec"
)

// fakeRuns records which jobs are running on one engine.
type fakeRuns struct {
	mu      sync.Mutex
	running map[string]bool
	changed chan struct{}
}

func newFakeRuns() *fakeRuns {
	return &fakeRuns{running: map[string]bool{}, changed: make(chan struct{}, 100)}
}

func (f *fakeRuns) run(ctx context.Context, p *plan.Plan, group string, st *JobStatus) error {
	f.set(p.Job.Name, true)
	st.Report([]StepStats{{Step: "steps[0].filter", In: 3, Out: 2}}, 1, 0, 0, 0)
	<-ctx.Done()
	f.set(p.Job.Name, false)
	return nil
}

func (f *fakeRuns) set(name string, on bool) {
	f.mu.Lock()
	f.running[name] = on
	f.mu.Unlock()
	f.changed <- struct{}{}
}

// waitFor blocks until the named job's running state is want.
func (f *fakeRuns) waitFor(t *testing.T, name string, want bool) {
	t.Helper()
	for {
		f.mu.Lock()
		got := f.running[name]
		f.mu.Unlock()
		if got == want {
			return
		}
		select {
		case <-f.changed:
		case <-time.After(30 * time.Second):
			t.Fatalf("job %s running=%v never happened", name, want)
		}
	}
}

func createTopics(t *testing.T, addr string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(context.Background(), 2, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}
}

type testEngine struct {
	e    *Engine
	runs *fakeRuns
	srv  *httptest.Server
}

func startEngine(t *testing.T, addr string) *testEngine {
	t.Helper()
	runs := newFakeRuns()
	e, err := New(Config{Bootstrap: []string{addr}, Run: runs.run, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		e.Close()
	})
	select {
	case <-e.Ready():
	case err := <-done:
		t.Fatalf("engine stopped: %v", err)
	}
	return &testEngine{e: e, runs: runs, srv: srv}
}

func (te *testEngine) call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, te.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

const apiJob = `name: big-bids
sources:
  - name: bids
    topic: bids
    value: {format: json, fields: {auction: int, price: float}}
steps:
  - filter: price > 100
sink: {topic: big-bids}
`

func TestJobAPILifecycle(t *testing.T) {
	addr := startKafka(t)
	createTopics(t, addr, "bids")
	a := startEngine(t, addr)

	var ji JobInfo
	if code := a.call(t, "POST", "/api/v1/jobs", apiJob, &ji); code != 200 || ji.Name != "big-bids" || ji.Version != 1 {
		t.Fatalf("apply: %d %+v", code, ji)
	}
	a.runs.waitFor(t, "big-bids", true)

	// A second instance reads the job from the compacted topic and runs it too.
	b := startEngine(t, addr)
	b.runs.waitFor(t, "big-bids", true)

	var list []JobInfo
	if code := b.call(t, "GET", "/api/v1/jobs", "", &list); code != 200 || len(list) != 1 || list[0].Status != "running" {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := a.call(t, "GET", "/api/v1/jobs/big-bids", "", &ji); code != 200 || ji.Spec != apiJob || len(ji.Steps) != 1 || ji.Steps[0].In != 3 || ji.Late != 1 {
		t.Fatalf("describe: %d %+v", code, ji)
	}

	if code := a.call(t, "POST", "/api/v1/jobs/big-bids/pause", "", &ji); code != 200 || ji.Status != "paused" {
		t.Fatalf("pause: %d %+v", code, ji)
	}
	a.runs.waitFor(t, "big-bids", false)
	b.runs.waitFor(t, "big-bids", false)

	if code := b.call(t, "POST", "/api/v1/jobs/big-bids/resume", "", &ji); code != 200 || ji.Status != "running" {
		t.Fatalf("resume: %d %+v", code, ji)
	}
	a.runs.waitFor(t, "big-bids", true)

	// Re-applying a paused job keeps it paused; JSON bodies work too.
	if code := a.call(t, "POST", "/api/v1/jobs/big-bids/pause", "", &ji); code != 200 {
		t.Fatal(code)
	}
	jsonJob := `{"name":"big-bids","sources":[{"name":"bids","topic":"bids"}],"steps":[{"filter":"price > 200"}],"sink":{"topic":"big-bids"}}`
	var re JobInfo
	if code := a.call(t, "POST", "/api/v1/jobs", jsonJob, &re); code != 200 || re.Status != "paused" || re.Version != 5 || len(re.Steps) != 0 {
		t.Fatalf("re-apply: %d %+v", code, re)
	}

	if code := a.call(t, "DELETE", "/api/v1/jobs/big-bids", "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	var apiErr APIError
	if code := a.call(t, "GET", "/api/v1/jobs/big-bids", "", &apiErr); code != 404 {
		t.Fatalf("after delete: %d", code)
	}
	if code := a.call(t, "POST", "/api/v1/jobs/nope/pause", "", &apiErr); code != 404 {
		t.Fatalf("pause missing: %d", code)
	}
	// b sees the tombstone. b's runner is already stopped, so nothing
	// signals the change: poll, with a deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := b.e.Job("big-bids"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second instance never saw the job's deletion")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJobAPIValidation(t *testing.T) {
	addr := startKafka(t)
	createTopics(t, addr, "bids")
	a := startEngine(t, addr)
	cases := []struct {
		name, body string
		line, col  int
		msg        string
	}{
		{"invalid yaml", "name: x\nsources: [\n", 2, 1, "invalid YAML"},
		{"unknown field", strings.Replace(apiJob, "steps:", "stepz:", 1), 6, 1, `unknown field "stepz"`},
		{"expression does not compile", strings.Replace(apiJob, "price > 100", "price >", 1), 7, 19, "unexpected token"},
		{"wrong type", strings.Replace(apiJob, "price > 100", "price + 1", 1), 7, 13, "bool"},
		{"unknown field in typed env", strings.Replace(apiJob, "price > 100", "prize > 100", 1), 7, 13, "unknown name prize"},
		{"unknown topic", strings.Replace(apiJob, "topic: bids", "topic: bidz", 1), 4, 12, `unknown topic "bidz"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr APIError
			code := a.call(t, "POST", "/api/v1/jobs", tc.body, &apiErr)
			if code != 400 || len(apiErr.Errors) == 0 {
				t.Fatalf("code %d, body %+v", code, apiErr)
			}
			e := apiErr.Errors[0]
			if e.Line != tc.line || e.Column != tc.col || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("error = %+v, want %d:%d %q", e, tc.line, tc.col, tc.msg)
			}
		})
	}
	var list []JobInfo
	a.call(t, "GET", "/api/v1/jobs", "", &list)
	if len(list) != 0 {
		t.Fatalf("invalid jobs were stored: %+v", list)
	}
}

// TestFailedJobIsReportedAndRestarted: a runner error shows in describe
// and the job is restarted after the backoff.
func TestFailedJobIsReportedAndRestarted(t *testing.T) {
	addr := startKafka(t)
	createTopics(t, addr, "bids")
	attempts := make(chan int, 10)
	n := 0
	run := func(ctx context.Context, p *plan.Plan, group string, st *JobStatus) error {
		n++
		attempts <- n
		if n == 1 {
			return errors.New("sink unwritable")
		}
		<-ctx.Done()
		return nil
	}
	e, err := New(Config{Bootstrap: []string{addr}, Run: run, RetryBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Applied before Run: the job starts when Run does.
	if _, err := e.Apply(context.Background(), []byte(apiJob)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	<-attempts
	for {
		ji, _ := e.Job("big-bids")
		if ji.Status == "failed" {
			if ji.Error != "sink unwritable" {
				t.Fatalf("error = %q", ji.Error)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // stops the backoff wait too
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ji, _ := e.Job("big-bids"); ji.Status != "stopped" {
		t.Fatalf("after Run: %+v", ji)
	}
}

// A job that uses avro with no registry anywhere is rejected at apply,
// with a position, before anything is stored.
func TestApplyAvroNeedsRegistry(t *testing.T) {
	e, err := New(Config{Bootstrap: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Apply(context.Background(), []byte("name: a\nsources: [{name: s, topic: in, value: avro}]\nsink: {topic: out}\n"))
	var se spec.Errors
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "no schema registry is configured") {
		t.Fatalf("apply: %v", err)
	}
}
