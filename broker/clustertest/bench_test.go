package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkCluster runs a 3-process cluster in three zones once and
// measures on it:
//
//   - produce/rf3-acks-all and produce/rf1: 1 KiB records from one
//     idempotent producer (acks=all; with RF=1 that is the leader alone),
//     MB/s, records/s and the p99 latency from Produce to acknowledgement;
//
//   - leader-failover: kill -9 of a partition leader to a produce
//     acknowledged by the new leader (broker.session.timeout.ms=3000),
//     median and max; one op is five kills, each followed by the restart
//     and the catch-up of the killed broker.
//
//     go test -run '^$' -bench Cluster -benchtime 3s ./broker/clustertest/
func BenchmarkCluster(b *testing.B) {
	c := Start(b, 3, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	adm := c.Admin()
	c.CreateTopic(ctx, adm, "bench-rf3", 6, 3)
	c.CreateTopic(ctx, adm, "bench-rf1", 6, 1)
	b.Run("produce/rf3-acks-all", func(b *testing.B) { benchProduce(ctx, b, c, "bench-rf3") })
	b.Run("produce/rf1", func(b *testing.B) { benchProduce(ctx, b, c, "bench-rf1") })
	b.Run("leader-failover", func(b *testing.B) { benchFailover(ctx, b, c) })
}

func benchProduce(ctx context.Context, b *testing.B, c *Cluster, topic string) {
	const size = 1024
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(10000))
	value := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(value) // incompressible, as real payloads are not all zeros
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func benchFailover(ctx context.Context, b *testing.B, c *Cluster) {
	adm := c.Admin()
	var took []time.Duration
	for i := range 5 * b.N {
		c.WaitBrokers(ctx, 3)
		c.WaitFullISR(ctx, adm, "bench-rf3")
		ps, err := Partitions(ctx, adm, "bench-rf3")
		if err != nil {
			b.Fatal(err)
		}
		p := int32(i % len(ps))
		victim := ps[p].Leader
		start := time.Now()
		c.Kill(victim)
		_, d := c.WaitNewLeader(ctx, "bench-rf3", p, victim, start)
		took = append(took, d)
		c.StartNode(victim)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(took[len(took)/2].Seconds(), "median-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
}
