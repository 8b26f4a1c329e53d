package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/storage"
)

// checkExactlyOnceInOrder checks that every value in acked appears exactly
// once, in order per partition (values are "p<partition>-<seq>").
func checkExactlyOnceInOrder(t *testing.T, got []*kgo.Record, acked map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	last := map[int32]int{}
	for _, r := range got {
		seen[string(r.Value)]++
		var p, seq int
		if _, err := fmt.Sscanf(string(r.Value), "p%d-%d", &p, &seq); err != nil {
			t.Fatalf("bad value %q", r.Value)
		}
		if prev, ok := last[r.Partition]; ok && seq <= prev {
			t.Fatalf("partition %d: seq %d after %d", r.Partition, seq, prev)
		}
		last[r.Partition] = seq
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("%s appears %d times", v, n)
		}
	}
	for v := range acked {
		if seen[v] != 1 {
			t.Fatalf("acknowledged %s missing", v)
		}
	}
}

func TestIdempotentProducerConnectionCut(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb.admin(), "idem", 3, nil)
	cl := tb.client(kgo.DefaultProduceTopic("idem"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordRetries(1000), kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }))
	ctx := testCtx(t)
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	var cuts atomic.Int32
	const perPartition = 3000
	for p := range int32(3) {
		for i := range perPartition {
			v := fmt.Sprintf("p%d-%d", p, i)
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("produce %s: %v", v, err)
					return
				}
				mu.Lock()
				acked[v] = true
				n := len(acked)
				mu.Unlock()
				if n%1000 == 500 {
					// Cut mid-stream: in-flight batches are retried and
					// must not be written twice.
					cuts.Add(1)
					go tb.closeConnections()
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := consumeN(t, tb, "idem", len(acked))
	// Nothing more than what was acked arrives late.
	time.Sleep(50 * time.Millisecond)
	checkExactlyOnceInOrder(t, got, acked)
	t.Logf("%d records, %d connection cuts", len(got), cuts.Load())
	if cuts.Load() == 0 || len(got) != 3*perPartition {
		t.Fatalf("got %d records, want %d", len(got), 3*perPartition)
	}
}

func TestRestartKeepsData(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb.admin(), "keep", 2, nil)
	cl := tb.client(kgo.DefaultProduceTopic("keep"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 100 {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "p%d-%d", i%2, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	id := func() [16]byte { tp, _ := tb.Topic("keep"); return tp.ID }()
	cluster := tb.ClusterID()
	pid1, _ := tb.AllocateProducerID(context.Background())
	cl.Close()
	tb.stop()

	tb = startBroker(t, tb.dir, nil)
	if tp, ok := tb.Topic("keep"); !ok || tp.ID != id || len(tp.Partitions) != 2 {
		t.Fatalf("topic after restart %+v", tp)
	}
	if tb.ClusterID() != cluster {
		t.Fatal("cluster id changed")
	}
	if pid2, _ := tb.AllocateProducerID(context.Background()); pid2 <= pid1 {
		t.Fatalf("producer id %d after %d: ids must never repeat", pid2, pid1)
	}
	got := consumeN(t, tb, "keep", 100)
	checkExactlyOnceInOrder(t, got, nil)
	if len(got) != 100 {
		t.Fatalf("got %d", len(got))
	}
	// And appends continue at the right offsets.
	cl = tb.client(kgo.DefaultProduceTopic("keep"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := &kgo.Record{Partition: 0, Value: []byte("p0-1000")}
	if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil || r.Offset != 50 {
		t.Fatalf("offset %d err %v", r.Offset, err)
	}
}

// Partition data of a topic the metadata does not know (a deletion cut short
// by a crash) is removed on start.
func TestLeftoverPartitionRemovedOnStart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	createTopic(t, tb.admin(), "real", 1, nil)
	tb.stop()
	m, err := storage.Open(storage.ManagerConfig{Dir: filepath.Join(dir, "kafka", "logs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.OpenPartition("ghost", 0, storage.DefaultLogConfig()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	tb = startBroker(t, dir, nil)
	if _, err := os.Stat(filepath.Join(dir, "kafka", "logs", "ghost-0")); !os.IsNotExist(err) {
		t.Fatalf("ghost partition still on disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kafka", "logs", "real-0")); err != nil {
		t.Fatal(err)
	}
}
