package broker

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/rebalance"
)

// rebalance.Run (sluice cluster rebalance) after a fourth broker joins:
// the plan moves replicas onto it until every broker holds the same
// number, throttled, waits for the moves, removes the throttle and elects
// the preferred leaders; every acknowledged record is on the new replicas.
func TestRebalanceSpreadsOntoANewBroker(t *testing.T) {
	nc := startNodes(t, 4, 2, nil, 0, 1, 2)
	ctx := testCtx(t)
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	var assign [][]int32
	for i := range int32(6) {
		assign = append(assign, []int32{i % 3, (i + 1) % 3})
	}
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "spread", Partitions: -1, ReplicationFactor: -1, Assignment: assign}); err != nil {
		t.Fatal(err)
	}
	acked := map[int32][]string{}
	for p := range int32(6) {
		nc.partitionEverywhere(ctx, "spread", p, nil)
		acked[p] = produceN(t, ctx, nc.seeds(), "spread", p, 50, "v")
	}
	nc.start(3)
	waitFor(ctx, t, "broker 3 registered, on every broker", func() bool {
		for _, b := range nc.brokers {
			if len(b.Brokers()) != 4 {
				return false
			}
		}
		return true
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(nc.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dry, err := rebalance.Run(ctx, cl, rebalance.Options{Topics: []string{"spread"}, DryRun: true})
	if err != nil || len(dry.Moves) == 0 || dry.Before[3].Replicas != 0 || dry.After[3].Replicas != 3 {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
	if info, _ := ctl.partitionInfo("spread", dry.Moves[0].Partition); !slices.Equal(info.Replicas, dry.Moves[0].From) {
		t.Fatalf("a dry run changed %+v", info)
	}
	var progress []int
	res, err := rebalance.Run(ctx, cl, rebalance.Options{Topics: []string{"spread"}, Throttle: 10 << 20, Wait: true, Poll: 50e6, Progress: func(n int) { progress = append(progress, n) }})
	if err != nil || !res.Completed || len(progress) == 0 {
		t.Fatalf("rebalance: %v %+v", err, res)
	}
	counts := map[int32]int{}
	for p := range int32(6) {
		info := nc.partitionEverywhere(ctx, "spread", p, func(mp metadata.Partition) bool { return !mp.Reassigning() })
		for _, r := range info.Replicas {
			counts[r]++
			if got := readReplica(t, nc.brokers[r], "spread", p); !slices.Equal(got, acked[p]) {
				t.Fatalf("broker %d holds %d records of spread-%d, want %d", r, len(got), p, len(acked[p]))
			}
		}
	}
	for id := range int32(4) {
		if counts[id] != 3 {
			t.Fatalf("replicas per broker after the rebalance: %v", counts)
		}
	}
	if _, _, ok := ctl.brokerValue("leader.replication.throttled.rate"); ok && ctl.setting("leader.replication.throttled.rate") != "9223372036854775807" {
		t.Fatal("the throttle stayed after the rebalance")
	}
	// Nothing left to do (a new client: kgo caches metadata for a while).
	cl2, err := kgo.NewClient(kgo.SeedBrokers(nc.seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	again, err := rebalance.Run(ctx, cl2, rebalance.Options{Topics: []string{"spread"}, DryRun: true})
	if err != nil || len(again.Moves) != 0 {
		t.Fatalf("a second plan: %v %+v", err, again.Moves)
	}
}
