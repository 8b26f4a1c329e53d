package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkThroughput: records/s delivered to a local receiver in batches
// of 100 records of 1 KiB, from 4 partitions, produced up front (the
// trigger starts once they are all in Kafka).
//
//	go test -run '^$' -bench Throughput -benchtime 50000x -count 3 ./connectors/webhook/
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b)
	e.topic(b, "bench", 4)
	var got, firstAt, firstN atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := int64(strings.Count(string(body), `"offset":`))
		if firstAt.CompareAndSwap(0, time.Now().UnixNano()) {
			firstN.Store(n)
		}
		got.Add(n)
	}))
	defer recv.Close()
	per := b.N/4 + 1
	for p := int32(0); p < 4; p++ {
		for i := 0; i < per; i += 1000 {
			e.produce(b, "bench", p, i, min(1000, per-i), 1024)
		}
	}
	total := int64(4 * per)
	b.SetBytes(1024)
	b.ResetTimer()
	e.createTrigger(b, map[string]any{"name": "bench", "url": recv.URL, "topics": []string{"bench"}, "batchSize": 100, "concurrency": 4})
	for got.Load() < total {
		time.Sleep(5 * time.Millisecond)
	}
	// From the first delivery on: trigger creation and the group join are
	// not delivery.
	el := time.Since(time.Unix(0, firstAt.Load()))
	b.StopTimer()
	b.ReportMetric(float64(total-firstN.Load())/el.Seconds(), "records/s")
}

// BenchmarkLatency: produce-to-delivery latency at low load (one record at
// a time) with a zero batching window; reports p50 and p99.
//
//	go test -run '^$' -bench Latency -benchtime 300x -count 3 ./connectors/webhook/
func BenchmarkLatency(b *testing.B) {
	e := newEnv(b)
	e.topic(b, "lat", 1)
	arrived := make(chan time.Time, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- time.Now()
	}))
	defer recv.Close()
	e.createTrigger(b, map[string]any{"name": "lat", "url": recv.URL, "topics": []string{"lat"}, "maximumBatchingWindowInSeconds": 0})
	// Warm up: the first record waits for the task to start and join.
	send := func(i int) time.Duration {
		t0 := time.Now()
		if err := e.cl.ProduceSync(context.Background(), &kgo.Record{Topic: "lat", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		return (<-arrived).Sub(t0)
	}
	send(-1)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat = append(lat, send(i))
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
