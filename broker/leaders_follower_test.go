package broker

import (
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
)

// fetchTally records which broker served the batches a consumer read.
type fetchTally struct {
	mu     sync.Mutex
	byNode map[int32]int
}

func (f *fetchTally) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byNode[meta.NodeID] += m.NumRecords
}

func (f *fetchTally) get() map[int32]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int32]int{}
	for k, v := range f.byNode {
		out[k] = v
	}
	return out
}

// KIP-392: with RackAwareReplicaSelector a consumer that sets client.rack
// is told to read from the in-sync follower in its rack and reads every
// record from it; a consumer in the leader's rack, or without a rack,
// reads from the leader.
func TestConsumerFetchesFromFollowerInItsRack(t *testing.T) {
	nc := startNodes(t, 3, 3, map[string]string{"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"}, 0, 1, 2)
	ctx := testCtx(t)
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "racks", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{0, 1, 2}}}); err != nil {
		t.Fatal(err)
	}
	nc.partitionEverywhere(ctx, "racks", 0, func(p metadata.Partition) bool { return p.Leader == 0 })
	acked := produceN(t, ctx, nc.seeds(), "racks", 0, 200, "r")
	// Broker 1 (zone-b) has everything below the high watermark.
	waitFor(ctx, t, "broker 1 to catch up", func() bool {
		b := nc.brokers[1]
		b.mu.RLock()
		pt := b.parts[tpOf("racks", 0)]
		b.mu.RUnlock()
		return pt != nil && pt.log.HighWatermark() == int64(len(acked))
	})

	consume := func(rack string) map[int32]int {
		t.Helper()
		tally := &fetchTally{byNode: map[int32]int{}}
		opts := []kgo.Opt{kgo.SeedBrokers(nc.seeds()...), kgo.ConsumeTopics("racks"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(tally)}
		if rack != "" {
			opts = append(opts, kgo.Rack(rack))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got []string
		for len(got) < len(acked) {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("rack %q: read %d of %d", rack, len(got), len(acked))
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if !slices.Equal(got, acked) {
			t.Fatalf("rack %q: read %d records, not the %d acknowledged in order", rack, len(got), len(acked))
		}
		return tally.get()
	}
	if by := consume("zone-b"); by[1] != len(acked) {
		t.Fatalf("a zone-b consumer read by broker %v, want all from broker 1", by)
	}
	if by := consume("zone-a"); by[0] != len(acked) {
		t.Fatalf("a zone-a consumer read by broker %v, want all from the leader", by)
	}
	if by := consume(""); by[0] != len(acked) {
		t.Fatalf("a consumer without a rack read by broker %v, want all from the leader", by)
	}

	// The follower serves new records once its high watermark covers them.
	more := produceN(t, ctx, nc.seeds(), "racks", 0, 10, "m")
	acked = append(acked, more...)
	if by := consume("zone-c"); by[2] != len(acked) {
		t.Fatalf("a zone-c consumer read by broker %v, want all from broker 2", by)
	}
}
