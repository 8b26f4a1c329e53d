package broker

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
)

// ElectLeaders: reordering a partition's replicas changes its preferred
// replica without moving the leader; a PREFERRED election moves leadership
// there with a new leader epoch, a second one is not needed, an election
// over all partitions lists only what it did, and UNCLEAN is not needed
// while the leader lives.
func TestElectPreferredLeader(t *testing.T) {
	nc := startNodes(t, 3, 3, nil, 0, 1, 2)
	ctx := testCtx(t)
	adm := nc.admin()
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "pref", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{0, 1, 2}, {1, 2, 0}}}); err != nil {
		t.Fatal(err)
	}
	nc.partitionEverywhere(ctx, "pref", 1, nil)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("pref", 0, []int32{2, 0, 1})
	if resps, err := adm.AlterPartitionAssignments(ctx, req); err != nil || resps.Error() != nil {
		t.Fatalf("reorder: %v %v", err, resps.Error())
	}
	info := nc.partitionEverywhere(ctx, "pref", 0, func(p metadata.Partition) bool { return p.Replicas[0] == 2 })
	if info.Leader != 0 || info.Reassigning() {
		t.Fatalf("after a reorder: %+v", info)
	}
	before := ctl.ClusterStats()
	if before.Imbalance != 1 {
		t.Fatalf("preferred replica imbalance %d, want 1", before.Imbalance)
	}

	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"pref": {0: {}}})
	if err != nil || res["pref"][0].Err != nil {
		t.Fatalf("elect preferred: %v %+v", err, res)
	}
	info = nc.partitionEverywhere(ctx, "pref", 0, func(p metadata.Partition) bool { return p.Leader == 2 })
	if info.LeaderEpoch != 1 {
		t.Fatalf("preferred leader without a new epoch: %+v", info)
	}
	if st := ctl.ClusterStats(); st.Elections != before.Elections+1 || st.Imbalance != 0 {
		t.Fatalf("elections %d (before %d), imbalance %d", st.Elections, before.Elections, st.Imbalance)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"pref": {0: {}, 7: {}}})
	if err != nil || !errors.Is(res["pref"][0].Err, kerr.ElectionNotNeeded) || !errors.Is(res["pref"][7].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("elect again: %v %+v", err, res)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil || len(res) != 0 {
		t.Fatalf("elect all: %v %+v", err, res)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{"pref": {1: {}}})
	if err != nil || !errors.Is(res["pref"][1].Err, kerr.ElectionNotNeeded) {
		t.Fatalf("elect unclean: %v %+v", err, res)
	}
	// A node that is not the controller refuses.
	for _, b := range nc.brokers {
		if b != ctl {
			if _, err := b.ElectLeaders(ctx, 0, nil); !errors.Is(err, kerr.NotController) {
				t.Fatalf("elect on a follower: %v", err)
			}
			break
		}
	}
}

// auto.leader.rebalance.enable: a broker that stops loses its leaderships;
// when it returns and is in sync again the controller moves them back
// within leader.imbalance.check.interval.seconds, no request needed.
func TestAutoLeaderRebalanceMovesLeadershipBack(t *testing.T) {
	nc := startNodes(t, 3, 3, map[string]string{"leader.imbalance.check.interval.seconds": "1", "replica.lag.time.max.ms": "2000"}, 0, 1, 2)
	ctx := testCtx(t)
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	// The partition prefers a broker that is not the controller, so the
	// quorum stays up while it is away.
	var victim int32
	for id := range nc.brokers {
		if id != ctl.cfg.NodeID {
			victim = id
			break
		}
	}
	others := []int32{}
	for id := range nc.brokers {
		if id != victim {
			others = append(others, id)
		}
	}
	slices.Sort(others)
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "auto", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{append([]int32{victim}, others...)}}); err != nil {
		t.Fatal(err)
	}
	nc.partitionEverywhere(ctx, "auto", 0, func(p metadata.Partition) bool { return p.Leader == victim })
	acked := produceN(t, ctx, nc.seeds(), "auto", 0, 100, "a")

	nc.stopNode(victim)
	nc.partitionEverywhere(ctx, "auto", 0, func(p metadata.Partition) bool { return p.Leader != victim && !slices.Contains(p.ISR, victim) })
	acked = append(acked, produceN(t, ctx, nc.seeds(), "auto", 0, 100, "b")...)

	nc.start(victim)
	info := nc.partitionEverywhere(ctx, "auto", 0, func(p metadata.Partition) bool { return p.Leader == victim })
	if info.LeaderEpoch < 2 {
		t.Fatalf("leadership back without new epochs: %+v", info)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nc.seeds()...), kgo.ConsumeTopics("auto"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < len(acked) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d", len(got), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, acked) {
		t.Fatalf("read %d records, not the %d acknowledged in order", len(got), len(acked))
	}
}
