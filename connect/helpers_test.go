package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// startKafka starts Sluice's broker for a test and returns its address.
func startKafka(t *testing.T) string {
	t.Helper()
	return testenv.StartBroker(t).Addr
}

// startKafkaB is startKafka for benchmarks.
func startKafkaB(b *testing.B) string {
	b.Helper()
	return testenv.StartBroker(b).Addr
}

type testWorker struct {
	w      *Worker
	url    string
	cancel context.CancelFunc
	done   chan error
}

func testLogger(testing.TB) *slog.Logger {
	if os.Getenv("CONNECT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startWorker runs a worker on 127.0.0.1:0 until the test ends (or stop).
func startWorker(t testing.TB, kafka string) *testWorker {
	t.Helper()
	return startWorkerWith(t, Config{Bootstrap: []string{kafka}})
}

func startWorkerWith(t testing.TB, cfg Config) *testWorker {
	t.Helper()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", testLogger(t)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tw := &testWorker{w: w, url: "http://" + w.Addr(), cancel: cancel, done: make(chan error, 1)}
	go func() { tw.done <- w.Run(ctx) }()
	t.Cleanup(tw.stop)
	waitFor(t, "worker ready", func() bool { return w.Ready() == nil })
	return tw
}

func (tw *testWorker) stop() {
	if tw.cancel == nil {
		return
	}
	tw.cancel()
	<-tw.done
	tw.cancel = nil
}

// waitFor polls cond until it holds; the test's own timeout bounds it.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call sends a request and returns the status and body.
func call(t testing.TB, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("bad JSON %q: %v", data, err)
	}
	return v
}

// topicCount is the sum of a topic's end offsets.
func topicCount(t *testing.T, kafka, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}
