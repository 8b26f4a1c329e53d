package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lockedBuffer is a bytes.Buffer safe for the server's log writes and the
// test's reads at the same time.
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

// apiAddrRE matches the server's own line, not a Connect worker's (their
// lines come through prefixed with "[worker-<n>] ").
var apiAddrRE = regexp.MustCompile(`(?m)^time=\S+ level=\S+ msg="sluice API listening" addr=(\S+)`)

// startServe runs `sluice serve` with args in-process and returns the API
// address it logged, and a stop function that waits for a clean exit.
func startServe(t *testing.T, args ...string) (apiAddr string, logs *lockedBuffer, stop func() int) {
	t.Helper()
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), io.Discard, logs) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := apiAddrRE.FindStringSubmatch(logs.String()); m != nil {
			apiAddr = m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited with %d before listening:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not log its API address:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatalf("serve did not stop within 30s")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return apiAddr, logs, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	api, logs, stop := startServe(t, "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
		"--registry-addr", "127.0.0.1:0", "--connect-addr", "127.0.0.1:0")
	if code, body := get(t, "http://"+api+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	waitReady := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, "http://"+api+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(waitReady) {
			t.Fatalf("/readyz = %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, "http://"+api+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d, missing go_goroutines", code)
	}
	// The embedded schema registry registers a schema in _schemas on the
	// embedded broker and serves it back.
	m := regexp.MustCompile(`schema registry listening" addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("registry address not logged:\n%s", logs.String())
	}
	resp, err := http.Post("http://"+m[1]+"/subjects/s-value/versions", "application/vnd.schemaregistry.v1+json",
		strings.NewReader(`{"schema":"{\"type\":\"string\"}"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":1`) {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	if code, body := get(t, "http://"+m[1]+"/schemas/ids/1"); code != 200 || !strings.Contains(body, `"schema":"\"string\""`) {
		t.Fatalf("get schema: %d %s", code, body)
	}
	// The Connect pool serves the Connect REST API of its worker processes
	// (this test binary acting as sluice, see TestMain) with the built-in
	// connector plugins, and its capacity: autoscaling 1 to 2 by default.
	m = regexp.MustCompile(`connect pool listening" component=connect addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("connect address not logged:\n%s", logs.String())
	}
	if code, body := get(t, "http://"+m[1]+"/connector-plugins"); code != 200 || !strings.Contains(body, "FileStreamSink") {
		t.Fatalf("GET /connector-plugins = %d %s", code, body)
	}
	if code, body := get(t, "http://"+m[1]+"/admin/capacity"); code != 200 || !strings.Contains(body, `"minWorkerCount":1,"maxWorkerCount":2`) {
		t.Fatalf("GET /admin/capacity = %d %s", code, body)
	}
	if !regexp.MustCompile(`(?m)^\[worker-1\] .*connect REST API listening`).MatchString(logs.String()) {
		t.Fatalf("no worker process logged its Connect address:\n%s", logs.String())
	}
	if code, body := get(t, "http://"+api+"/metrics"); code != 200 || !strings.Contains(body, "sluice_connect_pool_workers 1") {
		t.Fatalf("/metrics: %d, no pool worker gauge at 1", code)
	}
	// The stream job API is served on the API port by the embedded engine.
	if code, body := get(t, "http://"+api+"/api/v1/jobs"); code != 200 {
		t.Fatalf("GET /api/v1/jobs = %d %s", code, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit code %d", code)
	}
	// The worker process drained and exited cleanly on SIGTERM, before the
	// embedded broker stopped.
	if !strings.Contains(logs.String(), `msg="connect pool worker stopped" component=connect worker=worker-1`) ||
		!strings.Contains(logs.String(), `exit="exit status 0"`) {
		t.Fatalf("worker-1 did not stop cleanly:\n%s", logs.String())
	}
}

// The config file sets what flags do not, and flags win over the file.
func TestServeConfigFileAndFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sluice.yaml")
	yaml := "data_dir: " + filepath.Join(dir, "from-file") + "\napi:\n  addr: 127.0.0.1:1\nkafka:\n  addr: 127.0.0.1:0\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// --api-addr overrides the file's unusable port 1.
	_, logs, stop := startServe(t, "--config", cfgPath, "--api-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--connect-addr", "127.0.0.1:0")
	if !strings.Contains(logs.String(), "data_dir="+filepath.Join(dir, "from-file")) {
		t.Fatalf("data dir from the file not used:\n%s", logs.String())
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit code %d\n%s", code, logs.String())
	}
}

func TestBadConfigFailsWithOneLine(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(cfgPath, []byte("kafka:\n  adr: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := Run(context.Background(), []string{"serve", "--config", cfgPath}, strings.NewReader(""), io.Discard, &stderr)
	if code == 0 {
		t.Fatal("serve with a bad config exited 0")
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "sluice: ") {
		t.Fatalf("stderr = %q, want one line starting with \"sluice: \"", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"version"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !regexp.MustCompile(`^sluice \S+\n$`).MatchString(out.String()) {
		t.Fatalf("version output %q", out.String())
	}
}

var kafkaAddrRE = regexp.MustCompile(`kafka listener serving" component=broker addr=(\S+)`)

// A stream job applied to `sluice serve`'s API runs on its embedded broker:
// records in, filtered and mapped records out.
func TestServeRunsAStreamJob(t *testing.T) {
	api, logs, _ := startServe(t, "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
		"--registry-addr", "127.0.0.1:0", "--connect-addr", "127.0.0.1:0")
	m := kafkaAddrRE.FindStringSubmatch(logs.String())
	for deadline := time.Now().Add(30 * time.Second); m == nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m = kafkaAddrRE.FindStringSubmatch(logs.String())
	}
	if m == nil {
		t.Fatalf("kafka address not logged:\n%s", logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(m[1]), kgo.ConsumeTopics("euro-bids"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "bids"); err != nil {
		t.Fatal(err)
	}
	job, err := os.ReadFile("../../examples/streams-filter-map.yaml")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+api+"/api/v1/jobs", "application/yaml", bytes.NewReader(job))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("apply job: %d %s", resp.StatusCode, body)
	}
	// Auction 246 passes the filter (a multiple of 123); auction 7 does not.
	for _, v := range []string{
		`{"auction":7,"bidder":1,"price":10,"date_time":1000}`,
		`{"auction":246,"bidder":2,"price":100,"date_time":2000}`,
	} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bids", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no output from the job: %v", err)
		}
		var out []string
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		if len(out) == 0 {
			continue
		}
		var got map[string]float64
		if err := json.Unmarshal([]byte(out[0]), &got); err != nil {
			t.Fatalf("output %q: %v", out[0], err)
		}
		if len(out) != 1 || got["auction"] != 246 || got["bidder"] != 2 || math.Abs(got["price_eur"]-90.8) > 1e-9 {
			t.Fatalf("job output %v, want the one bid on auction 246 at 90.8 EUR", out)
		}
		return
	}
}

// A trigger created on `sluice serve`'s API runs as a webhook connector in
// the Connect pool and POSTs a Lambda-shaped event to a real receiver.
func TestServeRunsATrigger(t *testing.T) {
	received := make(chan map[string]any, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		received <- ev
	}))
	defer receiver.Close()
	api, logs, _ := startServe(t, "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0",
		"--registry-addr", "127.0.0.1:0", "--connect-addr", "127.0.0.1:0")
	m := kafkaAddrRE.FindStringSubmatch(logs.String())
	for deadline := time.Now().Add(30 * time.Second); m == nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m = kafkaAddrRE.FindStringSubmatch(logs.String())
	}
	if m == nil {
		t.Fatalf("kafka address not logged:\n%s", logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	body := `{"name":"orders-hook","url":"` + receiver.URL + `","topics":["orders"],"maximumBatchingWindowInSeconds":0}`
	// The pool's first worker may still be starting: the API answers 5xx
	// until Connect is up, so retry until the deadline.
	for {
		resp, err := http.Post("http://"+api+"/api/v1/triggers", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			break
		}
		if resp.StatusCode/100 == 4 || ctx.Err() != nil {
			t.Fatalf("create trigger: %d %s", resp.StatusCode, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Key: []byte("k"), Value: []byte(`{"id":1}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-received:
		recs, _ := ev["records"].(map[string]any)
		batch, _ := recs["orders-0"].([]any)
		if ev["eventSource"] != "SelfManagedKafka" || len(batch) != 1 {
			t.Fatalf("event = %v", ev)
		}
		r := batch[0].(map[string]any)
		if r["value"] != base64.StdEncoding.EncodeToString([]byte(`{"id":1}`)) || r["offset"] != float64(0) {
			t.Fatalf("record = %v", r)
		}
	case <-ctx.Done():
		t.Fatalf("no delivery from the trigger:\n%s", logs.String())
	}
}
