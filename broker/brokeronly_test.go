package broker

import (
	"maps"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
)

// startBrokerOnly starts node id as a broker-only node (process.roles=broker,
// not in controller.quorum.voters) that joins through the Kafka listener
// via, and records it in nc.
func startBrokerOnly(t *testing.T, nc *nodeCluster, id int32, raftAddr, via string) {
	t.Helper()
	settings := maps.Clone(nc.settings)
	settings["process.roles"] = "broker"
	settings["metadata.observer.listener"] = raftAddr
	settings["controller.quorum.bootstrap.servers"] = via
	if nc.dirs[id] == "" {
		nc.dirs[id] = t.TempDir()
	}
	b, err := New(Config{DataDir: nc.dirs[id], Addr: "127.0.0.1:0", NodeID: id, Rack: "zone-a", Settings: settings, Logger: testLogger().With("node", id)})
	if err != nil {
		t.Fatalf("broker-only node %d: %v", id, err)
	}
	nc.brokers[id] = runBroker(t, b)
}

// A broker-only node joins a running three-voter cluster through a node
// that is not the controller, follows the metadata as a Raft non-voter
// (the voters stay three), takes replicas and leads partitions, survives
// its own restart and the active controller's loss.
func TestBrokerOnlyNodeJoinsAndServes(t *testing.T) {
	nc := startNodes(t, 3, 3, nil, 0, 1, 2)
	ctx := testCtx(t)
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	var via *testBroker
	for _, b := range nc.brokers {
		if b != ctl {
			via = b
			break
		}
	}
	raftAddr := freePorts(t, 1)[0]
	startBrokerOnly(t, nc, 3, raftAddr, via.Addr().String())
	waitFor(ctx, t, "broker 3 registered, on every node", func() bool {
		for _, b := range nc.brokers {
			if len(b.Brokers()) != 4 {
				return false
			}
		}
		return true
	})
	if v := ctl.quorum.Voters(); !slices.Equal(v, []int32{0, 1, 2}) {
		t.Fatalf("voters after the join: %v", v)
	}
	if nc.brokers[3].quorum.IsLeader() {
		t.Fatal("the broker-only node leads the quorum")
	}

	// Partitions led by the broker-only node, replicated to two voters.
	assign := [][]int32{{3, 0, 1}, {3, 1, 2}, {0, 3, 2}}
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "on-broker-only", Partitions: -1, ReplicationFactor: -1, Assignment: assign}); err != nil {
		t.Fatal(err)
	}
	acked := map[int32][]string{}
	for p := range int32(3) {
		info := nc.partitionEverywhere(ctx, "on-broker-only", p, nil)
		if p < 2 && info.Leader != 3 {
			t.Fatalf("partition %d led by %d, want the broker-only node", p, info.Leader)
		}
		acked[p] = produceN(t, ctx, nc.seeds(), "on-broker-only", p, 50, "a")
	}
	checkReplicas := func(when string) {
		t.Helper()
		for p := range int32(3) {
			info := nc.partitionEverywhere(ctx, "on-broker-only", p, func(mp metadata.Partition) bool { return len(mp.ISR) == 3 })
			for _, r := range info.Replicas {
				if got := readReplica(t, nc.brokers[r], "on-broker-only", p); !slices.Equal(got, acked[p]) {
					t.Fatalf("%s: broker %d holds %d records of partition %d, want %d", when, r, len(got), p, len(acked[p]))
				}
			}
		}
	}
	checkReplicas("after the join")

	// Its restart: it follows the metadata again from its own Raft log.
	nc.stopNode(3)
	startBrokerOnly(t, nc, 3, raftAddr, via.Addr().String())
	for p := range int32(3) {
		acked[p] = append(acked[p], produceN(t, ctx, nc.seeds(), "on-broker-only", p, 20, "b")...)
	}
	checkReplicas("after its restart")

	// The active controller goes: the broker-only node follows the new one
	// (stays registered, is not fenced) and writes go on.
	old := ctl.cfg.NodeID
	nc.stopNode(old)
	var next *testBroker
	waitFor(ctx, t, "a new active controller", func() bool {
		for _, b := range nc.brokers {
			if b.quorum.IsLeader() {
				next = b
				return true
			}
		}
		return false
	})
	waitFor(ctx, t, "the broker-only node following the new controller", func() bool {
		return nc.brokers[3].quorum.Leader() == next.cfg.NodeID
	})
	for p := range int32(2) {
		nc.partitionEverywhere(ctx, "on-broker-only", p, func(mp metadata.Partition) bool { return mp.Leader == 3 })
		acked[p] = append(acked[p], produceN(t, ctx, nc.seeds(), "on-broker-only", p, 20, "c")...)
		if got := readReplica(t, nc.brokers[3], "on-broker-only", p); !slices.Equal(got, acked[p]) {
			t.Fatalf("after the controller's loss: broker 3 holds %d records of partition %d, want %d", len(got), p, len(acked[p]))
		}
	}
	if _, ok := next.state.Broker(3); !ok {
		t.Fatal("the new controller lost broker 3's registration")
	}
}

// A node outside the voters must say it is broker-only and how to join.
func TestBrokerOnlyNodeNeedsItsSettings(t *testing.T) {
	nc := startNodes(t, 2, 2, nil, 0, 1)
	for _, s := range []map[string]string{
		{},                          // process.roles defaults to broker,controller
		{"process.roles": "broker"}, // no Raft address, no way in
	} {
		settings := maps.Clone(nc.settings)
		maps.Copy(settings, s)
		if _, err := New(Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", NodeID: 7, Settings: settings, Logger: testLogger()}); err == nil {
			t.Fatalf("node 7 outside the voters with %v started", s)
		}
	}
}
