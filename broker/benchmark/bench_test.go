package benchmark

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

const partitions = 6

// target is a Kafka cluster under test.
type target struct {
	name  string
	start func(b *testing.B) (bootstrap string)
}

var targets = []target{
	{"sluice", func(b *testing.B) string { return testenv.StartBroker(b).Addr }},
	{"kfake", func(b *testing.B) string {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0)) // kfake listens on 127.0.0.1
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		return c.ListenAddrs()[0]
	}},
}

type benchCase struct {
	acks       string // "all" or "1"
	recordSize int
}

var cases = []benchCase{{"all", 1024}, {"1", 1024}, {"all", 100}, {"1", 100}}

func (c benchCase) String() string { return fmt.Sprintf("acks=%s/%dB", c.acks, c.recordSize) }

// randomPool holds random bytes that values are cut from, one after another,
// so values never repeat within a run and no codec could flatter the figures.
var randomPool = func() []byte {
	p := make([]byte, 64<<20)
	if _, err := rand.Read(p); err != nil {
		panic(err)
	}
	return p
}()

func value(i, size int) []byte {
	off := (i * size) % (len(randomPool) - size)
	return randomPool[off : off+size]
}

// result is one benchmark's figures, kept for the comparison table.
type result struct {
	mbps, recsPerSec float64
	p50, p99         time.Duration
}

var (
	resultsMu sync.Mutex
	results   = map[string][]result{} // "produce acks=all/1024B sluice" -> one per counted run
)

// record reports r and keeps it for the comparison table when the run was
// long enough to count (the framework's short calibration runs are not).
func record(b *testing.B, key string, elapsed time.Duration, r result) {
	if elapsed >= time.Second {
		resultsMu.Lock()
		results[key] = append(results[key], r)
		resultsMu.Unlock()
	}
	b.ReportMetric(r.recsPerSec, "records/s")
	if r.p99 > 0 {
		b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	}
}

func newClient(b *testing.B, bootstrap string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

func createTopic(b *testing.B, bootstrap, topic string) {
	adm := kadm.NewClient(newClient(b, bootstrap))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		b.Fatalf("create topic: %v %v", err, resp.Err)
	}
}

func producerOpts(acks string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// A bounded buffer, so latency is that of the cluster, not of a
		// client queue holding every record of the run.
		kgo.MaxBufferedBytes(8 << 20),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	}
	if acks == "1" {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	} else {
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	return opts
}

// produce sends n records and returns the elapsed time and per-record
// produce latencies (Produce call to acknowledgement).
func produce(b *testing.B, cl *kgo.Client, topic string, n, size int) (time.Duration, []time.Duration) {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value(i, size)}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		b.Fatalf("produce: %v", firstErr)
	}
	return elapsed, lat
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}

// BenchmarkProduce: b.N records of the case's size, 6 partitions, no compression.
func BenchmarkProduce(b *testing.B) {
	for _, c := range cases {
		for _, tg := range targets {
			b.Run(c.String()+"/"+tg.name, func(b *testing.B) {
				bootstrap := tg.start(b)
				topic := "bench"
				createTopic(b, bootstrap, topic)
				cl := newClient(b, bootstrap, producerOpts(c.acks)...)
				// Warm up connections and metadata outside the timed part.
				produce(b, cl, topic, 100, c.recordSize)
				b.SetBytes(int64(c.recordSize))
				b.ResetTimer()
				elapsed, lat := produce(b, cl, topic, b.N, c.recordSize)
				b.StopTimer()
				slices.Sort(lat)
				record(b, "produce "+c.String()+" "+tg.name, elapsed, result{
					mbps:       float64(b.N*c.recordSize) / elapsed.Seconds() / (1 << 20),
					recsPerSec: float64(b.N) / elapsed.Seconds(),
					p50:        percentile(lat, 0.50),
					p99:        percentile(lat, 0.99),
				})
			})
		}
	}
}

// BenchmarkConsume: b.N records produced first (untimed), then consumed from
// the start by one consumer.
func BenchmarkConsume(b *testing.B) {
	for _, size := range []int{1024, 100} {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("%dB/%s", size, tg.name), func(b *testing.B) {
				bootstrap := tg.start(b)
				topic := "bench"
				createTopic(b, bootstrap, topic)
				prod := newClient(b, bootstrap, producerOpts("1")...)
				produce(b, prod, topic, b.N, size)
				cons := newClient(b, bootstrap,
					kgo.ConsumeTopics(topic),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
					kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
				b.SetBytes(int64(size))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				b.ResetTimer()
				start := time.Now()
				got := 0
				for got < b.N {
					fs := cons.PollFetches(ctx)
					if err := fs.Err0(); err != nil {
						b.Fatalf("consume after %d of %d: %v", got, b.N, err)
					}
					got += fs.NumRecords()
				}
				elapsed := time.Since(start)
				b.StopTimer()
				record(b, fmt.Sprintf("consume %dB %s", size, tg.name), elapsed, result{
					mbps:       float64(b.N*size) / elapsed.Seconds() / (1 << 20),
					recsPerSec: float64(b.N) / elapsed.Seconds(),
				})
			})
		}
	}
}

// TestMain prints the side-by-side table after the benchmarks ran.
func TestMain(m *testing.M) {
	code := m.Run()
	printComparison()
	os.Exit(code)
}

func printComparison() {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	rows := map[string]bool{}
	for k := range results {
		rows[strings.TrimSuffix(strings.TrimSuffix(k, " sluice"), " kfake")] = true
	}
	names := make([]string, 0, len(rows))
	for r := range rows {
		names = append(names, r)
	}
	sort.Strings(names)
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nmedians of the counted runs (-count)")
	fmt.Fprintln(w, "case\tsluice MB/s\tkfake MB/s\tsluice rec/s\tkfake rec/s\tsluice p50/p99 ms\tkfake p50/p99 ms\tsluice/kfake")
	for _, n := range names {
		s, k := median(results[n+" sluice"]), median(results[n+" kfake"])
		ratio := 0.0
		if k.recsPerSec > 0 {
			ratio = s.recsPerSec / k.recsPerSec
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.0f\t%.0f\t%s\t%s\t%.2fx\n", n, s.mbps, k.mbps, s.recsPerSec, k.recsPerSec,
			lat(s), lat(k), ratio)
	}
	w.Flush()
}

func lat(r result) string {
	if r.p99 == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f/%.2f", float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000)
}

// median takes the median of each figure on its own.
func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{
		mbps:       pick(func(r result) float64 { return r.mbps }),
		recsPerSec: pick(func(r result) float64 { return r.recsPerSec }),
		p50:        time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:        time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
	}
}
