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
	e := &benchEnv{pg: pg}
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

// BenchmarkCommitToTopic measures rows/s from commit to topic with 1 KiB
// rows inserted in transactions of 1,000 rows.
func BenchmarkCommitToTopic(b *testing.B) {
	e := startBench(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += 1000 {
		hi := min(i+1000, b.N)
		pgExec(b, e.pg.DSN, fmt.Sprintf(`INSERT INTO bench SELECT g, repeat(md5(g::text), 32) FROM generate_series(%d, %d) g`, i+1, hi))
	}
	e.waitFor(b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
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
