package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/record"
	"github.com/sluicehq/sluice/broker/storage"
)

// nodeCluster is a quorum of n voters in this process of which any may be
// started later or restarted (with its data directory), broker i in zone
// i%zones.
type nodeCluster struct {
	*testCluster
	settings map[string]string
	dirs     map[int32]string
	zones    int
}

func startNodes(t *testing.T, n, zones int, extra map[string]string, up ...int32) *nodeCluster {
	t.Helper()
	raftAddrs := freePorts(t, n)
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@%s", i, raftAddrs[i]))
	}
	settings := map[string]string{
		"controller.quorum.voters":     strings.Join(voters, ","),
		"cluster.id":                   "test-cluster-" + t.Name(),
		"broker.session.timeout.ms":    "1500",
		"broker.heartbeat.interval.ms": "250",
	}
	for k, v := range extra {
		settings[k] = v
	}
	nc := &nodeCluster{testCluster: &testCluster{t: t, brokers: map[int32]*testBroker{}}, settings: settings, dirs: map[int32]string{}, zones: zones}
	for i := range n {
		nc.dirs[int32(i)] = t.TempDir()
	}
	nc.start(up...)
	return nc
}

// start opens and runs the given nodes concurrently (a quorum needs a
// majority up before New returns).
func (nc *nodeCluster) start(ids ...int32) {
	t := nc.t
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := New(Config{DataDir: nc.dirs[id], Addr: "127.0.0.1:0", NodeID: id, Rack: fmt.Sprintf("zone-%c", 'a'+int(id)%nc.zones), Settings: nc.settings, Logger: testLogger().With("node", id)})
			if err != nil {
				errs[i] = err
				return
			}
			tb := runBroker(t, b)
			mu.Lock()
			nc.brokers[id] = tb
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (nc *nodeCluster) stopNode(id int32) {
	nc.brokers[id].stop()
	delete(nc.brokers, id)
}

// controller is the running node that is the active controller.
func (c *testCluster) controller(ctx context.Context) *testBroker {
	c.t.Helper()
	var out *testBroker
	waitFor(ctx, c.t, "an active controller", func() bool {
		for _, b := range c.brokers {
			if b.quorum.IsLeader() {
				out = b
				return true
			}
		}
		return false
	})
	return out
}

// partitionEverywhere waits until every running broker has applied the
// topic with a leader and returns the partition as the controller has it.
func (c *testCluster) partitionEverywhere(ctx context.Context, topic string, p int32, cond func(metadata.Partition) bool) metadata.Partition {
	c.t.Helper()
	var info metadata.Partition
	waitFor(ctx, c.t, fmt.Sprintf("%s-%d on every broker", topic, p), func() bool {
		var first *metadata.Partition
		for _, b := range c.brokers {
			pi, ok := b.partitionInfo(topic, p)
			if !ok || pi.Leader < 0 || (cond != nil && !cond(pi)) {
				return false
			}
			if first != nil && first.PartitionEpoch != pi.PartitionEpoch {
				return false
			}
			first = &pi
		}
		info = *first
		return true
	})
	return info
}

func setBrokerConfig(t *testing.T, ctx context.Context, ctl *testBroker, name string, value *string) {
	t.Helper()
	op := kafka.OpSet
	if value == nil {
		op = kafka.OpDelete
	}
	if err := ctl.AlterConfigs(ctx, kmsg.ConfigResourceTypeBroker, "", []kafka.ConfigChange{{Name: name, Value: value, Op: op}}, true, false); err != nil {
		t.Fatalf("set %s: %v", name, err)
	}
}

func produceN(t *testing.T, ctx context.Context, seeds []string, topic string, p int32, n int, tag string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for first := 0; first < n; first += 10 { // several batches
		var rs []*kgo.Record
		for i := first; i < min(first+10, n); i++ {
			v := fmt.Sprintf("%s-%d", tag, i)
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
			out = append(out, v)
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s-%d: %v", topic, p, err)
		}
	}
	return out
}

// readReplica reads every record of a partition straight from one
// broker's log (not through its leader).
func readReplica(t *testing.T, b *testBroker, topic string, p int32) []string {
	t.Helper()
	b.mu.RLock()
	pt := b.parts[tpOf(topic, p)]
	b.mu.RUnlock()
	if pt == nil {
		t.Fatalf("broker %d has no replica of %s-%d", b.cfg.NodeID, topic, p)
	}
	var out []string
	for off := pt.log.LogStartOffset(); off < pt.log.LogEndOffset(); {
		res, err := pt.log.Read(off, storage.ReadOptions{MaxBytes: 1 << 20, MinOneBatch: true, UpTo: -1})
		if err != nil || len(res.Records) == 0 {
			t.Fatalf("read %s-%d at %d on broker %d: %v", topic, p, off, b.cfg.NodeID, err)
		}
		err = record.Each(res.Records, func(batch []byte) error {
			h, recs, err := record.Records(batch)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if h.BaseOffset+int64(r.OffsetDelta) >= off {
					out = append(out, string(r.Value))
				}
			}
			off = h.BaseOffset + int64(h.LastOffsetDelta) + 1
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A fourth broker joins a cluster of three; AlterPartitionReassignments
// moves a partition's replica onto it (through a replication throttle that
// holds the move while ListPartitionReassignments shows it), the leader
// moves off the removed replica, the new replica holds every acknowledged
// record and the removed one drops its log. A second move is cancelled
// and reverts.
func TestReassignmentMovesReplicasToANewBroker(t *testing.T) {
	nc := startNodes(t, 4, 4, map[string]string{"replica.lag.time.max.ms": "3000"}, 0, 1, 2)
	ctx := testCtx(t)
	adm := nc.admin()
	ctl := nc.controller(ctx)
	waitFor(ctx, t, "three brokers registered", func() bool { return len(ctl.Brokers()) == 3 })
	if _, err := ctl.CreateTopic(ctx, kafka.CreateTopic{Name: "move", Partitions: -1, ReplicationFactor: -1, Assignment: [][]int32{{0, 1}, {1, 2}}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	nc.partitionEverywhere(ctx, "move", 0, nil)
	nc.partitionEverywhere(ctx, "move", 1, nil)
	acked0 := produceN(t, ctx, nc.seeds(), "move", 0, 300, "p0")
	acked1 := produceN(t, ctx, nc.seeds(), "move", 1, 50, "p1")

	// The new broker registers and can receive replicas.
	nc.start(3)
	waitFor(ctx, t, "broker 3 registered and unfenced", func() bool {
		return slices.ContainsFunc(ctl.Brokers(), func(b metadata.BrokerInfo) bool { return b.ID == 3 })
	})

	// Throttled to 1 byte/s the new replica cannot catch up (it gets a
	// first batch, then the budget is in debt): the move stays listed.
	one := "1"
	setBrokerConfig(t, ctx, ctl, "leader.replication.throttled.rate", &one)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("move", 0, []int32{3, 1})
	req.Assign("move", 1, []int32{2, 3})
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || resps.Error() != nil {
		t.Fatalf("alter: %v %v", err, resps.Error())
	}
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"move": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := listed["move"][0], listed["move"][1]
	if !slices.Equal(p0.Replicas, []int32{3, 1, 0}) || !slices.Equal(p0.AddingReplicas, []int32{3}) || !slices.Equal(p0.RemovingReplicas, []int32{0}) {
		t.Fatalf("p0 reassignment listed as %+v", p0)
	}
	if !slices.Equal(p1.Replicas, []int32{2, 3, 1}) || !slices.Equal(p1.AddingReplicas, []int32{3}) || !slices.Equal(p1.RemovingReplicas, []int32{1}) {
		t.Fatalf("p1 reassignment listed as %+v", p1)
	}
	// Metadata lists the widened replica set meanwhile; the leader stays.
	info := nc.partitionEverywhere(ctx, "move", 0, func(p metadata.Partition) bool { return p.Reassigning() })
	if info.Leader != 0 {
		t.Fatalf("leader moved before the reassignment completed: %+v", info)
	}
	// A replication factor change is refused when v1 forbids it.
	bad := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	bad.AllowReplicationFactorChange = false
	bt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	bt.Topic = "move"
	bp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	bp.Partition, bp.Replicas = 0, []int32{3, 1, 2}
	bt.Partitions = append(bt.Partitions, bp)
	bad.Topics = append(bad.Topics, bt)
	if resp, err := bad.RequestWith(ctx, kadmClient(t, nc.seeds())); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("rf change with AllowReplicationFactorChange=false: %v %+v", err, resp)
	}

	// Cancel p1: it goes back to its original replicas (in the order of
	// the widened set, as Kafka's revert); broker 3 drops its copy.
	var cancel kadm.AlterPartitionAssignmentsReq
	cancel.CancelAssign("move", 1)
	if resps, err := adm.AlterPartitionAssignments(ctx, cancel); err != nil || resps.Error() != nil {
		t.Fatalf("cancel: %v %v", err, resps.Error())
	}
	info = nc.partitionEverywhere(ctx, "move", 1, func(p metadata.Partition) bool { return !p.Reassigning() })
	if !slices.Equal(info.Replicas, []int32{2, 1}) || info.Leader != 1 {
		t.Fatalf("p1 after cancel: %+v", info)
	}
	waitFor(ctx, t, "broker 3 to drop its copy of move-1", func() bool {
		b := nc.brokers[3]
		b.mu.RLock()
		defer b.mu.RUnlock()
		return b.parts[tpOf("move", 1)] == nil
	})
	if resps, err := adm.AlterPartitionAssignments(ctx, cancel); err != nil || !errorsIs(resps["move"][1].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel twice: %v %+v", err, resps)
	}

	// Lift the throttle: p0's move completes, leadership moves to broker 3
	// (the new preferred replica) and broker 0 drops its copy.
	setBrokerConfig(t, ctx, ctl, "leader.replication.throttled.rate", nil)
	info = nc.partitionEverywhere(ctx, "move", 0, func(p metadata.Partition) bool { return !p.Reassigning() })
	if !slices.Equal(info.Replicas, []int32{3, 1}) || !slices.Equal(slices.Sorted(slices.Values(info.ISR)), []int32{1, 3}) || info.Leader != 3 {
		t.Fatalf("p0 after the move: %+v", info)
	}
	waitFor(ctx, t, "broker 0 to drop its copy of move-0", func() bool {
		b := nc.brokers[0]
		b.mu.RLock()
		defer b.mu.RUnlock()
		return b.parts[tpOf("move", 0)] == nil
	})
	if got, _ := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"move": {0: {}, 1: {}}}); len(got["move"]) != 0 {
		t.Fatalf("reassignments still listed: %+v", got)
	}
	// The data is intact on the new replica, and the moved partition takes
	// writes at its new leader.
	if got := readReplica(t, nc.brokers[3], "move", 0); !slices.Equal(got, acked0) {
		t.Fatalf("broker 3 holds %d records of move-0, want the %d acknowledged", len(got), len(acked0))
	}
	if got := readReplica(t, nc.brokers[2], "move", 1); !slices.Equal(got, acked1) {
		t.Fatalf("broker 2 holds %d records of move-1, want %d", len(got), len(acked1))
	}
	more := produceN(t, ctx, nc.seeds(), "move", 0, 20, "after")
	waitFor(ctx, t, "broker 1 to replicate the new writes", func() bool {
		return len(readReplica(t, nc.brokers[1], "move", 0)) == len(acked0)+len(more)
	})
}

func errorsIs(err, target error) bool {
	ke, ok := err.(*kerr.Error)
	return ok && ke == target
}

func kadmClient(t *testing.T, seeds []string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
