package postgrescdc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// committedOffset reads the connector's latest offset from connect-offsets.
func committedOffset(bootstrap, connector string) map[string]any {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics("connect-offsets"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return nil
	}
	defer cl.Close()
	want := `["` + connector + `",{"server":"PostgreSQL_server"}]`
	var last map[string]any
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Read until every partition is consumed to its high watermark.
	caughtUp := map[int32]bool{}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			next := int64(-1)
			p.EachRecord(func(r *kgo.Record) {
				next = r.Offset + 1
				if string(r.Key) == want {
					last = nil
					json.Unmarshal(r.Value, &last)
				}
			})
			if p.Err == nil && (next >= p.HighWatermark || next < 0 && p.HighWatermark == 0) {
				caughtUp[p.Partition] = true
			}
		})
		if len(caughtUp) == 5 {
			return last
		}
	}
	return last
}

func lsnOf(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

// TestFaults kills the worker mid-snapshot and mid-stream and restarts
// PostgreSQL while streaming: no committed change is lost, duplicates are
// re-deliveries of events delivered before a crash, and the slot's
// confirmed_flush_lsn never passes the committed offset.
func TestFaults(t *testing.T) {
	pg := testenv.StartPostgres(t)
	broker := testenv.StartBroker(t)
	pgExec(t, pg.DSN,
		`CREATE TABLE public.acct (id int PRIMARY KEY, n int NOT NULL, pad text)`,
		`INSERT INTO acct SELECT g, 0, repeat('p', 100) FROM generate_series(1, 20000) g`,
	)
	cons := consume(t, broker.Addr, `PostgreSQL_server\..*`)
	w1, url := testenv.StartConnectWorker(t, broker.Addr, "cdc")
	createConnector(t, url, "pg", connectorConfig(pg, map[string]string{"max.batch.size": "100", "heartbeat.interval.ms": "500"}))

	// Sample the flush rule all along: confirmed_flush_lsn read first,
	// the committed offset after, so confirmed <= committed must hold.
	var violations atomic.Int64
	var samples atomic.Int64
	var lastViolation atomic.Value
	sctx, scancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { scancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sctx.Err() == nil {
			rows, err := tryQuery(sctx, pg.DSN, "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'debezium'")
			if err == nil && len(rows) == 1 {
				confirmed, _ := strconv.ParseUint(rows[0], 10, 64)
				off := committedOffset(broker.Addr, "pg")
				if off != nil && off["snapshot"] == nil {
					samples.Add(1)
					if confirmed > lsnOf(off["lsn_commit"]) {
						violations.Add(1)
						lastViolation.Store(fmt.Sprintf("confirmed_flush_lsn %d > committed lsn_commit %v", confirmed, off["lsn_commit"]))
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	// Kill -9 mid-snapshot; another worker redoes the snapshot.
	cons.wait(t, "part of the snapshot", func(evs []event) bool { return countOp(evs, "r") > 1000 })
	w1.Kill()
	crashes := []int{cons.caughtUp(t, broker.Addr)}
	w2, _ := testenv.StartConnectWorker(t, broker.Addr, "cdc")
	cons.wait(t, "the snapshot's last record", func(evs []event) bool {
		for _, e := range evs[crashes[0]:] {
			if src, _ := e.payload()["source"].(map[string]any); src != nil && src["snapshot"] == "last" {
				return true
			}
		}
		return false
	})

	// A writer commits small transactions throughout.
	wctx, wcancel := context.WithCancel(context.Background())
	var wwg sync.WaitGroup
	var written atomic.Int64
	defer func() { wcancel(); wwg.Wait() }()
	wwg.Add(1)
	go func() {
		defer wwg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			id := 20001 + i
			_, err := tryQuery(wctx, pg.DSN, fmt.Sprintf(
				"BEGIN; INSERT INTO acct VALUES (%d, 1, 'w'); UPDATE acct SET n = n + 1 WHERE id = %d; DELETE FROM acct WHERE id = %d; COMMIT",
				id, 1+i%20000, 1+(i*7)%20000))
			if err == nil {
				written.Add(1)
			} else {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	waitFor(t, "writes", func() bool { return written.Load() > 50 })
	cons.wait(t, "streamed changes", func(evs []event) bool { return countOp(evs, "u") > 20 })
	// Kill -9 the second worker mid-stream; a third takes over.
	w2.Kill()
	crashes = append(crashes, cons.caughtUp(t, broker.Addr))
	testenv.StartConnectWorker(t, broker.Addr, "cdc")
	n := countOp(cons.all(), "u")
	cons.wait(t, "streaming after the kill", func(evs []event) bool { return countOp(evs, "u") > n+20 })
	// Restart PostgreSQL while streaming: the task reconnects.
	crashes = append(crashes, cons.caughtUp(t, broker.Addr))
	pg.Restart(t)
	n = countOp(cons.all(), "u")
	cons.wait(t, "streaming after the restart", func(evs []event) bool { return countOp(evs, "u") > n+20 })
	wcancel()
	wwg.Wait()

	// Everything committed arrives: fold == table.
	want := tableRows(t, pg.DSN, "acct", "id")
	var got map[string]map[string]any
	deadline := time.Now().Add(90 * time.Second)
	for {
		got = fold(cons.topic("PostgreSQL_server.public.acct"))
		if len(got) == len(want) && fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	sameRows(t, "acct", got, want)
	scancel()
	wg.Wait()
	if samples.Load() == 0 {
		t.Fatal("the flush rule was never sampled")
	}
	if n := violations.Load(); n > 0 {
		t.Fatalf("%d flush rule violations, e.g. %v", n, lastViolation.Load())
	}

	// Streamed duplicates are re-deliveries of events delivered before a
	// crash (at or below what was flushed to Kafka then).
	evs := cons.all()
	first := map[string]int{}
	for i, e := range evs {
		p := e.payload()
		if p == nil || p["op"] == "r" {
			continue
		}
		src := p["source"].(map[string]any)
		k, _ := json.Marshal([]any{e.topic, e.key, p["op"], src["txId"], src["lsn"]})
		j, seen := first[string(k)]
		if !seen {
			first[string(k)] = i
			continue
		}
		ok := false
		for _, c := range crashes {
			if j < c && i >= c {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("event %d duplicates event %d with no crash between: %s", i, j, k)
		}
	}
	t.Logf("%d transactions written, %d events, %d flush samples", written.Load(), len(evs), samples.Load())
}

func tryQuery(ctx context.Context, dsn, sql string) ([]string, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(qctx, dsn)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	res, err := c.Exec(qctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range res[len(res)-1].Rows {
		out = append(out, string(r[0]))
	}
	return out, nil
}
