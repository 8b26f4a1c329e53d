package s3sink

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/connect/plugin"
)

// BenchmarkPut writes records of ~200 bytes (a struct with a schema) into
// MinIO through a task, flush.size 10000, 6 partitions; MB/s counts the
// records' JSON size. One MinIO serves every run (each run writes under
// its own topics.dir), started and warmed up before any timer runs, so
// the figures are the sink's and not the server's start-up.
func BenchmarkPut(b *testing.B) {
	_, _, base := setup(b)
	st, err := newStore(context.Background(), mustSettings(b, base))
	if err != nil {
		b.Fatal(err)
	}
	// 64 MB of objects, four at a time, as the task will put them.
	warm := make([]byte, 2<<20)
	var wg sync.WaitGroup
	for w := 0; w < maxUploads; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				if err := st.put(context.Background(), fmt.Sprint("warmup/", w, "/", i), warm, 0); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	runs := 0
	for _, f := range []string{"JsonFormat", "AvroFormat"} {
		b.Run(f, func(b *testing.B) {
			cfg := maps.Clone(base)
			cfg["flush.size"] = "10000"
			cfg["format.class"] = f
			runs++
			cfg["topics.dir"] = fmt.Sprint("run", runs)
			task := (&connector{}).NewTask()
			if err := task.Start(nopCtx{}, cfg); err != nil {
				b.Fatal(err)
			}
			defer task.Stop()
			const batch = 1200
			recs := make([]*plugin.SinkRecord, batch)
			size := 0
			next := make([]int64, 6)
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				for i := range recs {
					p := int32(i % 6)
					v := plugin.NewStruct(orderSchema).Put("id", next[p]).Put("item", "item-padding-to-make-a-record-of-about-two-hundred-bytes-"+
						"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").Put("price", 12.5)
					recs[i] = &plugin.SinkRecord{Topic: "bench", Partition: p, Offset: next[p], ValueSchema: orderSchema, Value: v}
					next[p]++
				}
				if err := task.Put(recs); err != nil {
					b.Fatal(err)
				}
			}
			task.(*sinkTask).wg.Wait() // the last uploads
			b.StopTimer()
			js, _ := json.Marshal(recs[0].Value)
			size = len(js)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// BenchmarkRawPut is the ceiling the store sets: 2 MB objects put by 4
// goroutines through the same client code, no encoding.
func BenchmarkRawPut(b *testing.B) {
	if b.N > 1000 {
		b.Skip("2 MB per op: use -benchtime 200x")
	}
	_, _, cfg := setup(b)
	st, err := newStore(context.Background(), mustSettings(b, cfg))
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 2<<20)
	b.SetBytes(int64(len(body)))
	b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 uploads at once
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.put(context.Background(), fmt.Sprintf("raw/%d", n.Add(1)), body, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func mustSettings(b *testing.B, cfg map[string]string) *settings {
	s, err := parseSettings(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
