package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
)

// Partition reassignment and leader elections on the active controller
// (kafka.ClusterAdmin): AlterPartitionReassignments starts a move as a
// partition_change with adding and removing replicas (metadata/reassign.go);
// the new replicas open their logs and fetch from the leader (reconcile,
// fetcher.go) until the leader takes them into the ISR; the controller's
// cluster loop (runClusterTasks) then completes the move, and runs the
// automatic preferred-leader election (auto.leader.rebalance.enable).

// IsController implements kafka.ClusterAdmin.
func (b *Broker) IsController() bool { return b.quorum.IsLeader() }

// Reassign implements kafka.ClusterAdmin.
func (b *Broker) Reassign(ctx context.Context, topic string, p int32, replicas []int32, allowRFChange bool) error {
	if !b.quorum.IsLeader() {
		return metadata.ErrNotController
	}
	if replicas != nil {
		if err := b.checkReplicas(replicas); err != nil {
			return err
		}
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	info, ok := b.partitionInfo(topic, p)
	if !ok {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topic, p)
	}
	b.mu.RLock()
	var np metadata.Partition
	var err error
	switch {
	case replicas == nil:
		np, err = metadata.CancelReassignment(info, b.liveLocked)
	case !allowRFChange && len(replicas) != len(info.OriginalReplicas()):
		err = fmt.Errorf("%w: the reassignment changes the replication factor from %d to %d", kerr.InvalidReplicationFactor, len(info.OriginalReplicas()), len(replicas))
	default:
		np, err = metadata.Reassign(info, replicas, b.liveLocked)
	}
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := b.commit(metadata.Record{Type: metadata.PartitionChange, Topic: topic, Partitions: []metadata.Partition{np}}); err != nil {
		return err
	}
	if replicas == nil {
		b.log.Info("partition reassignment cancelled", "topic", topic, "partition", p, "replicas", np.Replicas)
	} else {
		b.log.Info("partition reassignment", "topic", topic, "partition", p, "target", replicas, "adding", np.AddingReplicas, "removing", np.RemovingReplicas)
	}
	return nil
}

// Reassignments implements kafka.ClusterAdmin.
func (b *Broker) Reassignments(parts map[string][]int32) []kafka.Reassignment {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []kafka.Reassignment
	for _, t := range b.state.Topics() {
		want, named := parts[t.Name]
		if parts != nil && !named {
			continue
		}
		for _, p := range t.Partitions {
			if !p.Reassigning() || (want != nil && !slices.Contains(want, p.ID)) {
				continue
			}
			out = append(out, kafka.Reassignment{Topic: t.Name, Partition: p.ID, Replicas: slices.Clone(p.Replicas),
				Adding: slices.Clone(p.AddingReplicas), Remove: slices.Clone(p.RemovingReplicas)})
		}
	}
	return out
}

// ElectLeaders implements kafka.ClusterAdmin.
func (b *Broker) ElectLeaders(ctx context.Context, typ int8, parts map[string][]int32) (map[string]map[int32]error, error) {
	if !b.quorum.IsLeader() {
		return nil, metadata.ErrNotController
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	results := map[string]map[int32]error{}
	set := func(topic string, p int32, err error) {
		if results[topic] == nil {
			results[topic] = map[int32]error{}
		}
		results[topic][p] = err
	}
	var recs []metadata.Record
	b.mu.RLock()
	all := parts == nil
	if all {
		parts = map[string][]int32{}
		for _, t := range b.state.Topics() {
			for _, p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], p.ID)
			}
		}
	}
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, name := range topics {
		t, ok := b.state.Topic(name)
		var changed []metadata.Partition
		for _, id := range parts[name] {
			if !ok || id < 0 || int(id) >= len(t.Partitions) {
				set(name, id, fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, name, id))
				continue
			}
			var np metadata.Partition
			var err error
			if typ == 1 {
				np, err = metadata.ElectUnclean(t.Partitions[id], b.liveLocked)
			} else {
				np, err = metadata.ElectPreferred(t.Partitions[id], b.liveLocked)
			}
			if err == nil {
				changed = append(changed, np)
			}
			if !(all && errors.Is(err, kerr.ElectionNotNeeded)) {
				set(name, id, err)
			}
		}
		if len(changed) > 0 {
			recs = append(recs, metadata.Record{Type: metadata.PartitionChange, Topic: name, Partitions: changed})
		}
	}
	b.mu.RUnlock()
	for _, r := range recs {
		if err := b.commit(r); err != nil {
			for _, p := range r.Partitions {
				set(r.Topic, p.ID, err)
			}
			continue
		}
		for _, p := range r.Partitions {
			b.log.Info("leader elected", "topic", r.Topic, "partition", p.ID, "leader", p.Leader, "epoch", p.LeaderEpoch, "unclean", typ == 1)
		}
	}
	return results, nil
}

// runClusterTasks is the active controller's periodic work beside fencing:
// it completes reassignments whose new replicas are in sync, and every
// leader.imbalance.check.interval.seconds runs the automatic preferred
// leader election when auto.leader.rebalance.enable is set.
func (b *Broker) runClusterTasks(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastCheck := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !b.quorum.IsLeader() {
			lastCheck = time.Now()
			continue
		}
		b.completeReassignments()
		interval := time.Duration(b.brokerInt("leader.imbalance.check.interval.seconds")) * time.Second
		if time.Since(lastCheck) >= interval {
			lastCheck = time.Now()
			if b.setting("auto.leader.rebalance.enable") == "true" {
				b.rebalanceLeaders()
			}
		}
	}
}

func (b *Broker) completeReassignments() {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.RLock()
	recs := metadata.ReassignmentChanges(b.state, b.liveLocked)
	b.mu.RUnlock()
	if err := b.commitPartitionChanges(recs); err != nil {
		b.log.Warn("completing reassignments", "err", err)
		return
	}
	for _, r := range recs {
		for _, p := range r.Partitions {
			b.log.Info("partition reassignment completed", "topic", r.Topic, "partition", p.ID, "replicas", p.Replicas, "leader", p.Leader)
		}
	}
}

func (b *Broker) rebalanceLeaders() {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.RLock()
	recs := metadata.RebalanceChanges(b.state, b.liveLocked, int(b.brokerIntLocked("leader.imbalance.per.broker.percentage")))
	b.mu.RUnlock()
	if len(recs) == 0 {
		return
	}
	if err := b.commitPartitionChanges(recs); err != nil {
		b.log.Warn("automatic preferred leader election", "err", err)
		return
	}
	n := 0
	for _, r := range recs {
		n += len(r.Partitions)
	}
	b.log.Info("automatic preferred leader election", "partitions", n)
}

// brokerIntLocked is brokerInt for a caller holding mu.
func (b *Broker) brokerIntLocked(name string) int64 {
	v, _, _ := b.brokerValueFrom(b.state.BrokerConfigs(), name)
	var n int64
	fmt.Sscan(v, &n)
	return n
}
