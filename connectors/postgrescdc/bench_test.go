package postgrescdc_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// benchEnv is PostgreSQL, a broker and a worker running the connector on
// an empty table bench(id, pad) past its snapshot, and a consumer of the
// table's topic that reports each record's commit-to-topic latency.
type benchEnv struct {
	pg   *testenv.Postgres
	url  string // the worker's REST API
	mu   sync.Mutex
	n    int
	lats []time.Duration
	cond *sync.Cond
}

func startBench(b *testing.B) *benchEnv {
	// synchronous_commit=on: with it off, WAL reaches the decoder only at
	// the WAL writer's next round (wal_writer_delay, 200 ms).
	pg := testenv.StartPostgres(b, testenv.WithPostgresSettings(map[string]string{"synchronous_commit": "on"}))
	broker := testenv.StartBroker(b)
	pgExec(b, pg.DSN, `CREATE TABLE bench (id bigint PRIMARY KEY, pad text NOT NULL)`)
	url := startWorker(b, broker.Addr)
	createConnector(b, url, "bench", connectorConfig(pg, map[string]string{"max.batch.size": "4096"}))
	e := &benchEnv{pg: pg, url: url}
	e.cond = sync.NewCond(&e.mu)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr), kgo.ConsumeTopics("PostgreSQL_server.public.bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			e.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				e.n++
				if ts := sourceTS(r.Value); ts > 0 {
					e.lats = append(e.lats, now.Sub(time.UnixMilli(ts)))
				}
			})
			e.cond.Broadcast()
			e.mu.Unlock()
		}
	}()
	b.Cleanup(func() { cancel(); <-done })
	waitFor(b, "the connector to stream", func() bool { st, _ := taskState(b, url, "bench"); return st == "RUNNING" })
	return e
}

// sourceTS finds payload.source.ts_ms without decoding the whole record.
func sourceTS(v []byte) int64 {
	i := bytes.Index(v, []byte(`"connector":"postgresql"`))
	if i < 0 {
		return 0
	}
	j := bytes.Index(v[i:], []byte(`"ts_ms":`))
	if j < 0 {
		return 0
	}
	rest := v[i+j+8:]
	k := bytes.IndexAny(rest, ",}")
	n, _ := strconv.ParseInt(string(rest[:k]), 10, 64)
	return n
}

func (e *benchEnv) waitFor(n int) {
	e.mu.Lock()
	for e.n < n {
		e.cond.Wait()
	}
	e.mu.Unlock()
}

// BenchmarkCommitToTopic measures the connector's rows/s from commit to
// topic with 1 KiB rows: b.N rows are committed (in transactions of 1,000)
// while the connector is paused, and the clock runs from its resume until
// the last row is on the topic. The WAL is already there, so the figure is
// the connector's own (decode, convert, produce, commit offsets), not how
// fast this machine's PostgreSQL inserts.
func BenchmarkCommitToTopic(b *testing.B) {
	e := startBench(b)
	// One streamed row first, so the connector's offsets say the snapshot
	// is done and the resume streams instead of snapshotting again.
	pgExec(b, e.pg.DSN, `INSERT INTO bench VALUES (0, 'first')`)
	e.waitFor(1) // a paused task first commits what it delivered
	if st, body := call(b, "PUT", e.url+"/connectors/bench/pause", nil); st != 202 {
		b.Fatalf("pause: %d %s", st, body)
	}
	waitFor(b, "the connector to pause", func() bool { st, _ := taskState(b, e.url, "bench"); return st == "PAUSED" })
	e.insert(b, b.N, 1000)
	b.ResetTimer()
	start := time.Now()
	if st, body := call(b, "PUT", e.url+"/connectors/bench/resume", nil); st != 202 {
		b.Fatalf("resume: %d %s", st, body)
	}
	e.waitFor(b.N + 1)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(b.N)*1024/time.Since(start).Seconds()/1e6, "MB/s")
}

// BenchmarkCommitToTopicLive inserts while the connector streams; on a
// 2-core machine PostgreSQL's own insert rate (reported too) is the limit.
func BenchmarkCommitToTopicLive(b *testing.B) {
	e := startBench(b)
	b.ResetTimer()
	start := time.Now()
	e.insert(b, b.N, 1000)
	ins := time.Since(start)
	e.waitFor(b.N)
	b.ReportMetric(float64(b.N)/ins.Seconds(), "insert-rows/s")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

// insert commits rows 1..n of 1 KiB into bench, txn rows per transaction.
func (e *benchEnv) insert(b *testing.B, n, txn int) {
	for i := 0; i < n; i += txn {
		hi := min(i+txn, n)
		pgExec(b, e.pg.DSN, fmt.Sprintf(`INSERT INTO bench SELECT g, repeat(md5(g::text), 32) FROM generate_series(%d, %d) g`, i+1, hi))
	}
}

// BenchmarkLatency5k commits 50 rows every 10 ms (5,000 rows/s) for b.N
// rows and reports commit-to-topic latency percentiles.
func BenchmarkLatency5k(b *testing.B) {
	e := startBench(b)
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < b.N; i += 50 {
		<-tick.C
		hi := min(i+50, b.N)
		pgExec(b, e.pg.DSN, fmt.Sprintf(`INSERT INTO bench SELECT g, repeat(md5(g::text), 32) FROM generate_series(%d, %d) g`, i+1, hi))
	}
	e.waitFor(b.N)
	b.StopTimer()
	e.mu.Lock()
	lats := append([]time.Duration(nil), e.lats...)
	e.mu.Unlock()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	}
}
