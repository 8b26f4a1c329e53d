package broker

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
)

// The cluster metrics follow a follower's loss: its leader counts an ISR
// shrink and reports the partition under-replicated (and under
// min.insync.replicas), the controller counts the fenced broker; when it
// returns the ISR expands and the partition is fully replicated again.
func TestClusterMetricsFollowReplicaLoss(t *testing.T) {
	nc := startNodes(t, 3, 3, map[string]string{"replica.lag.time.max.ms": "1000", "min.insync.replicas": "3"}, 0, 1, 2)
	ctx := testCtx(t)
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	// The leader is the controller; the follower to lose is not.
	leader := ctl.cfg.NodeID
	var follower int32
	assign := []int32{leader}
	for id := range nc.brokers {
		if id != leader {
			assign = append(assign, id)
			follower = id
		}
	}
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "urp", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{assign}}); err != nil {
		t.Fatal(err)
	}
	nc.partitionEverywhere(ctx, "urp", 0, nil)
	produceN(t, ctx, nc.seeds(), "urp", 0, 10, "x")

	reg := prometheus.NewRegistry()
	if err := reg.Register(&clusterCollector{b: ctl.Broker}); err != nil {
		t.Fatal(err)
	}
	gather := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	if n := testutil.CollectAndCount(&clusterCollector{b: ctl.Broker}); n < 14 {
		t.Fatalf("%d cluster metrics", n)
	}
	if v := gather("sluice_broker_under_replicated_partitions"); v != 0 {
		t.Fatalf("under-replicated before any loss: %v", v)
	}
	if v := gather("sluice_controller_active_controller_count"); v != 1 {
		t.Fatalf("active controller count %v on the controller", v)
	}
	before := ctl.ClusterStats()

	nc.stopNode(follower)
	waitFor(ctx, t, "the partition under-replicated at its leader", func() bool {
		return gather("sluice_broker_under_replicated_partitions") == 1 && gather("sluice_broker_under_min_isr_partitions") == 1
	})
	st := ctl.ClusterStats()
	if st.ISRShrinks <= before.ISRShrinks || st.Offline != 0 {
		t.Fatalf("after losing a follower: %+v (before %+v)", st, before)
	}
	waitFor(ctx, t, "the follower fenced", func() bool { return ctl.ClusterStats().FencedBrokers == 1 })
	var exp strings.Builder
	exp.WriteString(`
# HELP sluice_controller_brokers Registered brokers by state, on the active controller (ActiveBrokerCount, FencedBrokerCount).
# TYPE sluice_controller_brokers gauge
sluice_controller_brokers{state="active"} 2
sluice_controller_brokers{state="fenced"} 1
`)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp.String()), "sluice_controller_brokers"); err != nil {
		t.Fatal(err)
	}

	nc.start(follower)
	nc.partitionEverywhere(ctx, "urp", 0, func(p metadata.Partition) bool { return len(p.ISR) == 3 })
	waitFor(ctx, t, "the partition fully replicated again", func() bool {
		return gather("sluice_broker_under_replicated_partitions") == 0 && gather("sluice_broker_isr_expands_total") > float64(before.ISRExpands)
	})
	// A node that is not the controller reports none of the controller's gauges.
	other := nc.brokers[follower]
	if st := other.ClusterStats(); st.Controller || st.Offline != 0 || st.ActiveBrokers != 0 {
		t.Fatalf("a follower's stats: %+v", st)
	}
}
