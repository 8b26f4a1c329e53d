package clustertest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producer writes "<partition>-<seq>" records round-robin over a topic's
// partitions with an idempotent acks=all client, and keeps a ledger of
// what was acknowledged.
type producer struct {
	cl     *kgo.Client
	topic  string
	parts  int32
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	acked    map[int32][]int64 // per partition, in acknowledgement order
	lastOff  map[int32]int64
	errs     []error
	disorder []string
}

func startProducer(t *testing.T, c *Cluster, topic string, parts int32, perSecond int) *producer {
	pr := &producer{
		cl: c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.MaxBufferedRecords(2000), kgo.ProducerLinger(2*time.Millisecond)),
		topic: topic, parts: parts, done: make(chan struct{}),
		acked: map[int32][]int64{}, lastOff: map[int32]int64{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr.cancel = cancel
	go func() {
		defer close(pr.done)
		seq := make([]int64, parts)
		var n int
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(1, perSecond/100)
		for ctx.Err() == nil {
			for range per {
				p := int32(n % int(parts))
				n++
				s := seq[p]
				seq[p]++
				r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, s))}
				pr.cl.Produce(ctx, r, func(r *kgo.Record, err error) { pr.ackd(r, s, err) })
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(pr.stopNow)
	return pr
}

func (pr *producer) ackd(r *kgo.Record, seq int64, err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if err != nil {
		if len(pr.errs) < 10 && !strings.Contains(err.Error(), "context canceled") {
			pr.errs = append(pr.errs, fmt.Errorf("record %d-%d: %w", r.Partition, seq, err))
		}
		return
	}
	if last, ok := pr.lastOff[r.Partition]; ok && r.Offset <= last {
		pr.disorder = append(pr.disorder, fmt.Sprintf("%d-%d acknowledged at offset %d after offset %d", r.Partition, seq, r.Offset, last))
	}
	pr.lastOff[r.Partition] = r.Offset
	pr.acked[r.Partition] = append(pr.acked[r.Partition], seq)
}

func (pr *producer) ackedCount() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, s := range pr.acked {
		n += len(s)
	}
	return n
}

// stop ends production and waits until every buffered record is
// acknowledged.
func (pr *producer) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	pr.cancel()
	<-pr.done
	if err := pr.cl.Flush(ctx); err != nil {
		t.Fatalf("flushing the producer: %v", err)
	}
}

func (pr *producer) stopNow() {
	pr.cancel()
	<-pr.done
}

// verify reads the whole topic and checks the ledger: every acknowledged
// record is there, once, and each partition's records are in the order
// they were produced.
func (pr *producer) verify(ctx context.Context, t *testing.T, c *Cluster) {
	t.Helper()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, err := range pr.errs {
		t.Errorf("produce failed: %v", err)
	}
	for _, d := range pr.disorder {
		t.Errorf("out of order: %s", d)
	}
	got := readAll(ctx, t, c, pr.topic)
	total := 0
	for p := range pr.parts {
		var seqs []int64
		for _, v := range got[p] {
			_, seq, ok := strings.Cut(v, "-")
			n, err := strconv.ParseInt(seq, 10, 64)
			if !ok || err != nil {
				t.Errorf("partition %d: record %q", p, v)
				continue
			}
			seqs = append(seqs, n)
		}
		seen := map[int64]bool{}
		for i, s := range seqs {
			if seen[s] {
				t.Errorf("partition %d: record %d-%d duplicated", p, p, s)
			}
			seen[s] = true
			if i > 0 && s <= seqs[i-1] {
				t.Errorf("partition %d: record %d-%d after %d-%d", p, p, s, p, seqs[i-1])
			}
		}
		lost := 0
		for _, s := range pr.acked[p] {
			if !seen[s] {
				if lost < 5 {
					t.Errorf("partition %d: acknowledged record %d-%d lost", p, p, s)
				}
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("partition %d: %d acknowledged records lost", p, lost)
		}
		total += len(pr.acked[p])
	}
	t.Logf("%d acknowledged records verified over %d partitions", total, pr.parts)
}

// readAll reads every record of topic up to its end offsets: the values
// per partition, probes (see WaitNewLeader) skipped.
func readAll(ctx context.Context, t *testing.T, c *Cluster, topic string) map[int32][]string {
	t.Helper()
	adm := c.Admin()
	var ends kadm.ListedOffsets
	Eventually(ctx, t, "end offsets of "+topic, func() bool {
		var err error
		ends, err = adm.ListEndOffsets(ctx, topic)
		return err == nil && ends.Error() == nil
	})
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	next := map[int32]int64{}
	got := map[int32][]string{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: at %v of %v", topic, next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if v := string(r.Value); v != "probe" {
				got[r.Partition] = append(got[r.Partition], v)
			}
		})
	}
	return got
}

// groupConsumer consumes a topic in a consumer group, committing every
// 500 ms, and counts what it reads.
type groupConsumer struct {
	cl     *kgo.Client
	read   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func startGroupConsumer(t *testing.T, c *Cluster, group, topic string) *groupConsumer {
	gc := &groupConsumer{
		cl: c.Client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitInterval(500*time.Millisecond), kgo.SessionTimeout(10*time.Second)),
		done: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	gc.cancel = cancel
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := gc.cl.PollFetches(ctx)
			gc.read.Add(int64(fs.NumRecords()))
		}
	}()
	t.Cleanup(gc.stop)
	return gc
}

func (gc *groupConsumer) stop() {
	gc.cancel()
	<-gc.done
}

// committed is a group's committed offsets per partition of topic.
func committed(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	var out map[int32]int64
	Eventually(ctx, t, "the committed offsets of "+group, func() bool {
		os, err := adm.FetchOffsets(ctx, group)
		if err != nil || os.Error() != nil {
			return false
		}
		out = map[int32]int64{}
		os.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				out[o.Partition] = o.At
			}
		})
		return true
	})
	return out
}

// checkNotBehind fails if a committed offset went back (a lost commit).
func checkNotBehind(t *testing.T, before, after map[int32]int64) {
	t.Helper()
	for p, off := range before {
		if after[p] < off {
			t.Errorf("partition %d: committed offset %d went back to %d", p, off, after[p])
		}
	}
}

func durations(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("median %s of [%s]", s[len(s)/2].Round(10*time.Millisecond), strings.Join(parts, " "))
}
