package runtime

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// startKafka starts Sluice's broker for one test and returns its address.
func startKafka(t *testing.T) string {
	t.Helper()
	return testenv.StartBroker(t).Addr
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, cl *kgo.Client, topic string, parts int32) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), parts, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// consumeN reads n records from topic, from the start, rendered as
// "key @time value" and sorted so partition interleaving does not matter
// within a key.
func consumeN(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %s: %v", len(out), n, topic, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			s := fmt.Sprintf("%s @%d %s", r.Key, r.Timestamp.UnixMilli(), r.Value)
			for _, h := range r.Headers {
				if h.Key == HeaderError {
					s += " error=" + string(h.Value)
				}
			}
			out = append(out, s)
		})
	}
	sort.Strings(out)
	return out
}

func TestRunnerEndToEnd(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	createTopic(t, cl, "bids", 2)

	produce := func(key, value string, ts int64) {
		t.Helper()
		rec := &kgo.Record{Topic: "bids", Key: []byte(key), Value: []byte(value), Timestamp: time.UnixMilli(ts)}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Keys a and b hash to partitions; each task keeps its own stream time.
	produce("a", `{"auction": 1, "price": 5}`, 1000)
	produce("a", `{"auction": 1, "price": 50}`, 2000)
	produce("b", `{"auction": 2, "price": 70}`, 3000)
	produce("b", `{"auction": 2, "price": "cheap"}`, 4000) // bad: price is not an int
	produce("a", `{"auction": 1, "price": 80}`, 11000)
	produce("a", `{"auction": 1, "price": 90}`, 25000) // closes a's windows
	produce("b", `{"auction": 2, "price": 95}`, 25000) // closes b's windows

	filterMap := compileJob(t, `name: expensive
sources:
  - name: bids
    topic: bids
    value: {format: json, fields: {auction: int, price: int}}
steps:
  - filter: price > 10
  - map: {auction: auction, cents: price * 100}
sink: {topic: expensive}
`)
	counts := compileJob(t, `name: counts
sources: [{name: bids, topic: bids, value: {format: json, fields: {auction: int, price: int}}}]
steps:
  - window: {type: tumbling, size: 10s}
  - aggregate: {fields: {n: count, top: {fn: max, of: price}}}
  - emit: final
sink: {topic: counts}
`)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	var statsSeen = make(chan JobStats, 100)
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		errs <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: filterMap, CommitInterval: 100 * time.Millisecond, Metrics: metrics,
			OnStats: func(s JobStats) {
				select {
				case statsSeen <- s:
				default:
				}
			}})
	}()
	go func() { errs <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: counts}) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}()

	got := consumeN(t, addr, "expensive", 5)
	want := []string{
		`a @11000 {"auction":1,"cents":8000}`,
		`a @2000 {"auction":1,"cents":5000}`,
		`a @25000 {"auction":1,"cents":9000}`,
		`b @25000 {"auction":2,"cents":9500}`,
		`b @3000 {"auction":2,"cents":7000}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("expensive:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = consumeN(t, addr, "counts", 3)
	want = []string{
		`a @11000 {"n":1,"top":80,"window_end":20000,"window_start":10000}`,
		`a @2000 {"n":2,"top":50,"window_end":10000,"window_start":0}`,
		`b @3000 {"n":1,"top":70,"window_end":10000,"window_start":0}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("counts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	dlq := consumeN(t, addr, "_sluice-streams-expensive-dlq", 1)
	if len(dlq) != 1 || !strings.HasPrefix(dlq[0], `b @4000 {"auction": 2, "price": "cheap"} error=`) {
		t.Fatalf("dead letters: %v", dlq)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case s := <-statsSeen:
			if s.DeadLetters == 1 && s.In == 6 && s.Out == 5 {
				if n := testutil.ToFloat64(metrics.DeadLetters.WithLabelValues("expensive")); n != 1 {
					t.Fatalf("dead letters metric = %v", n)
				}
				if n := testutil.ToFloat64(metrics.StepIn.WithLabelValues("expensive", "steps[1].map")); n != 5 {
					t.Fatalf("map step records in = %v", n)
				}
				if n := testutil.ToFloat64(metrics.StepOut.WithLabelValues("expensive", "steps[0].filter")); n != 5 {
					t.Fatalf("filter step records out = %v", n)
				}
				return
			}
		case <-deadline:
			t.Fatal("stats never showed 6 records in, 5 out, 1 dead letter")
		}
	}
}

func TestRunnerKeyByRepartitions(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	createTopic(t, cl, "clicks", 3)
	// Keyed by user, counted by page: without repartitioning each of the
	// three tasks would count its own share of a page's clicks.
	want := map[string]int{}
	for i := range 60 {
		page := fmt.Sprint("p", i%4)
		want[page]++
		rec := &kgo.Record{Topic: "clicks", Key: []byte(fmt.Sprint("u", i)), Value: []byte(fmt.Sprintf(`{"page":%q}`, page))}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := compileJob(t, `name: pages
sources: [{name: clicks, topic: clicks}]
steps:
  - key_by: page
  - aggregate: {fields: {n: count}}
sink: {topic: page-counts}
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: p}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	// Changes mode: one output per click; each page's counts reach its total.
	got := consumeN(t, addr, "page-counts", 60)
	final := map[string]int{}
	for _, s := range got {
		var key string
		var ts int64
		var n int
		if _, err := fmt.Sscanf(s, "%s @%d {\"n\":%d}", &key, &ts, &n); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		final[key] = max(final[key], n)
	}
	if fmt.Sprint(final) != fmt.Sprint(want) {
		t.Fatalf("final counts %v, want %v", final, want)
	}
}

func TestRunnerStreamStreamLeftJoin(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	createTopic(t, cl, "orders", 2)
	createTopic(t, cl, "payments", 2)
	produce := func(topic, key, value string, ts int64) {
		t.Helper()
		rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value), Timestamp: time.UnixMilli(ts)}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A generous grace: the runner orders the two topics by timestamp only
	// within a fetch, so payments may be processed after later orders.
	p := compileJob(t, `name: paid
sources:
  - {name: orders, topic: orders}
  - {name: payments, topic: payments}
steps:
  - join:
      with: payments
      type: left
      within: 5s
      grace: 1h
      select: {item: left.item, paid: "right == nil ? 0 : right.amount"}
sink: {topic: paid}
`)
	produce("orders", "o1", `{"item":"book"}`, 1000)
	produce("orders", "o2", `{"item":"lamp"}`, 2000)
	produce("payments", "o1", `{"amount":12}`, 3000)
	produce("payments", "o2", `{"amount":30}`, 9000) // 7s after o2: outside the window
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: p}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	got := consumeN(t, addr, "paid", 1)
	if want := `o1 @3000 {"item":"book","paid":12}`; got[0] != want {
		t.Fatalf("got %s, want %s", got[0], want)
	}
	// Close o2's window on its partition: only then is lamp emitted unpaid.
	produce("orders", "o2", `{"item":"pen"}`, 2*3600*1000)
	got = consumeN(t, addr, "paid", 2)
	if want := `o2 @2000 {"item":"lamp","paid":0}`; got[1] != want {
		t.Fatalf("got %v, want second %s", got, want)
	}
}
