package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// Replication, leader side (Kafka's design): followers fetch from the
// leader with their replica id; the fetch offset is the follower's log end.
// The high watermark is the smallest log end among the in-sync replicas; a
// follower that reached the leader's log end within replica.lag.time.max.ms
// stays in the ISR, one that falls behind longer is removed, and one that
// catches up to the high watermark is added back. ISR changes are metadata
// changes, committed through the controller (partition_change records).
// acks=all waits until the high watermark covers the append, and is refused
// with NOT_ENOUGH_REPLICAS while the ISR is smaller than min.insync.replicas.

// replicaState is what a leader knows of one follower.
type replicaState struct {
	leo          int64     // the follower's last fetch offset
	caughtUpTime time.Time // last time it had fetched up to our log end
}

// leaderState is the leader's bookkeeping of one partition; guarded by
// partition.hwMu.
type leaderState struct {
	epoch     int32
	replicas  map[int32]*replicaState
	hwChanged chan struct{} // closed and replaced when the HW moves
	started   time.Time     // when the ISR-shrink loop first saw this epoch
}

func (pt *partition) leaderLocked(epoch int32) *leaderState {
	if pt.lead == nil || pt.lead.epoch != epoch {
		ls := &leaderState{epoch: epoch, replicas: map[int32]*replicaState{}, hwChanged: make(chan struct{})}
		if pt.lead != nil {
			ls.hwChanged = pt.lead.hwChanged
		}
		pt.lead = ls
	}
	return pt.lead
}

// partitionInfo returns the partition's metadata.
func (b *Broker) partitionInfo(topic string, p int32) (metadata.Partition, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.state.Topic(topic)
	if !ok || p < 0 || int(p) >= len(t.Partitions) {
		return metadata.Partition{}, false
	}
	return t.Partitions[p], true
}

// advanceHW moves the high watermark to the smallest log end of the ISR.
// Caller holds pt.hwMu.
func (b *Broker) advanceHWLocked(pt *partition, info metadata.Partition) {
	hw := pt.log.LogEndOffset()
	if len(info.Replicas) > 1 {
		ls := pt.leaderLocked(info.LeaderEpoch)
		for _, r := range info.InSync() {
			if r == b.cfg.NodeID {
				continue
			}
			rs := ls.replicas[r]
			if rs == nil {
				return // no word from an in-sync follower yet under this epoch
			}
			hw = min(hw, rs.leo)
		}
	}
	if hw > pt.log.HighWatermark() {
		pt.log.SetHighWatermark(hw)
		if pt.lead != nil {
			close(pt.lead.hwChanged)
			pt.lead.hwChanged = make(chan struct{})
		}
	}
}

// ReplicaFetched implements kafka.Backend: a follower fetched from offset.
// It returns the log end to serve the follower up to.
func (b *Broker) ReplicaFetched(topic string, p int32, replica int32, offset int64) {
	info, ok := b.partitionInfo(topic, p)
	if !ok || info.Leader != b.cfg.NodeID || !slices.Contains(info.Replicas, replica) {
		return
	}
	b.mu.RLock()
	pt := b.parts[storage.TopicPartition{Topic: topic, Partition: p}]
	b.mu.RUnlock()
	if pt == nil {
		return
	}
	pt.hwMu.Lock()
	ls := pt.leaderLocked(info.LeaderEpoch)
	rs := ls.replicas[replica]
	if rs == nil {
		rs = &replicaState{}
		ls.replicas[replica] = rs
	}
	rs.leo = offset
	if offset >= pt.log.LogEndOffset() {
		rs.caughtUpTime = time.Now()
	}
	b.advanceHWLocked(pt, info)
	expand := !slices.Contains(info.InSync(), replica) && offset >= pt.log.HighWatermark()
	pt.hwMu.Unlock()
	if expand {
		isr := append(slices.Clone(info.InSync()), replica)
		b.requestISRChange(topic, info, isr)
	}
}

// waitReplicated waits until the high watermark reaches offset (acks=all).
func (b *Broker) waitReplicated(ctx context.Context, topic string, p int32, pt *partition, offset int64) error {
	for {
		info, ok := b.partitionInfo(topic, p)
		if !ok || info.Leader != b.cfg.NodeID {
			return fmt.Errorf("%w: leadership of %s-%d moved before the write was replicated", kerr.NotLeaderForPartition, topic, p)
		}
		pt.hwMu.Lock()
		b.advanceHWLocked(pt, info) // the ISR may have shrunk to us
		done := pt.log.HighWatermark() >= offset
		ch := pt.leaderLocked(info.LeaderEpoch).hwChanged
		pt.hwMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the in-sync replicas", kerr.RequestTimedOut)
		case <-ch:
		case <-time.After(100 * time.Millisecond): // ISR changes come by metadata
		}
	}
}

// minISR is min.insync.replicas of a topic.
func (b *Broker) minISR(topic string) int {
	t, ok := b.Topic(topic)
	if !ok {
		return 1
	}
	b.mu.RLock()
	dyn := b.state.BrokerConfigs()
	b.mu.RUnlock()
	n, _ := strconv.Atoi(b.topicConfigs(dyn, t.Configs)["min.insync.replicas"])
	return max(n, 1)
}

// requestISRChange asks the controller to set a partition's ISR (Kafka's
// AlterPartition), in process when this node is the controller.
func (b *Broker) requestISRChange(topic string, info metadata.Partition, isr []int32) {
	slices.Sort(isr)
	np := info
	np.Replicas = slices.Clone(info.Replicas)
	np.ISR = isr
	np.PartitionEpoch++
	rec := metadata.Record{Type: metadata.PartitionChange, Topic: topic, Partitions: []metadata.Partition{np}}
	b.isrMu.Lock()
	key := storage.TopicPartition{Topic: topic, Partition: info.ID}
	if b.isrPending[key] {
		b.isrMu.Unlock()
		return
	}
	b.isrPending[key] = true
	b.isrMu.Unlock()
	go func() {
		defer func() {
			b.isrMu.Lock()
			delete(b.isrPending, key)
			b.isrMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.alterPartition(ctx, rec, info.PartitionEpoch); err != nil {
			b.log.Debug("ISR change", "topic", topic, "partition", info.ID, "isr", isr, "err", err)
			return
		}
		b.log.Info("ISR changed", "topic", topic, "partition", info.ID, "isr", isr)
	}()
}

// alterPartition commits a leader's ISR change if the partition is still
// as the leader saw it (same partition epoch, same leader).
func (b *Broker) alterPartition(ctx context.Context, rec metadata.Record, seenEpoch int32) error {
	if !b.quorum.IsLeader() {
		return b.forwardPartitionChange(ctx, rec, seenEpoch)
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	np := rec.Partitions[0]
	cur, ok := b.partitionInfo(rec.Topic, np.ID)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	if cur.PartitionEpoch != seenEpoch || cur.Leader != np.Leader || cur.LeaderEpoch != np.LeaderEpoch {
		return fmt.Errorf("%w: partition changed meanwhile", kerr.FencedLeaderEpoch)
	}
	for _, r := range np.ISR {
		b.mu.RLock()
		live := b.liveLocked(r)
		b.mu.RUnlock()
		if !live {
			return fmt.Errorf("%w: replica %d is fenced", kerr.IneligibleReplica, r)
		}
	}
	np.PartitionEpoch = cur.PartitionEpoch + 1
	rec.Partitions = []metadata.Partition{np}
	return b.commit(rec)
}

// runISRShrink removes followers that have not caught up for
// replica.lag.time.max.ms from the ISR of partitions this node leads.
func (b *Broker) runISRShrink(ctx context.Context) {
	lag := time.Duration(b.brokerInt("replica.lag.time.max.ms")) * time.Millisecond
	tick := time.NewTicker(max(lag/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		type cand struct {
			topic string
			info  metadata.Partition
			pt    *partition
		}
		var cands []cand
		b.mu.RLock()
		for _, t := range b.state.Topics() {
			for _, p := range t.Partitions {
				if p.Leader == b.cfg.NodeID && len(p.InSync()) > 1 {
					if pt := b.parts[storage.TopicPartition{Topic: t.Name, Partition: p.ID}]; pt != nil {
						cands = append(cands, cand{t.Name, p, pt})
					}
				}
			}
		}
		b.mu.RUnlock()
		now := time.Now()
		for _, c := range cands {
			c.pt.hwMu.Lock()
			ls := c.pt.leaderLocked(c.info.LeaderEpoch)
			if ls.started.IsZero() {
				ls.started = now
			}
			var keep []int32
			for _, r := range c.info.InSync() {
				rs := ls.replicas[r]
				last := ls.started
				if rs != nil && rs.caughtUpTime.After(last) {
					last = rs.caughtUpTime
				}
				if r == b.cfg.NodeID || now.Sub(last) <= lag || c.pt.log.LogEndOffset() == rsLEO(rs) {
					keep = append(keep, r)
				}
			}
			c.pt.hwMu.Unlock()
			if len(keep) < len(c.info.InSync()) {
				b.log.Warn("shrinking ISR: followers lag", "topic", c.topic, "partition", c.info.ID, "isr", keep)
				b.requestISRChange(c.topic, c.info, keep)
			}
		}
	}
}

func rsLEO(rs *replicaState) int64 {
	if rs == nil {
		return -1
	}
	return rs.leo
}

// isrState guards ISR change requests in flight (one per partition).
type isrState struct {
	isrMu      sync.Mutex
	isrPending map[storage.TopicPartition]bool
}

// AlterPartition implements kafka.Backend on the active controller.
func (b *Broker) AlterPartition(ctx context.Context, leader int32, topic string, p, leaderEpoch, partitionEpoch int32, isr []int32) error {
	if !b.quorum.IsLeader() {
		return metadata.ErrNotController
	}
	info, ok := b.partitionInfo(topic, p)
	if !ok {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topic, p)
	}
	if info.Leader != leader || info.LeaderEpoch != leaderEpoch {
		return fmt.Errorf("%w: %d is not the leader of %s-%d at epoch %d", kerr.FencedLeaderEpoch, leader, topic, p, leaderEpoch)
	}
	np := info
	np.Replicas = slices.Clone(info.Replicas)
	np.ISR = slices.Clone(isr)
	return b.alterPartition(ctx, metadata.Record{Type: metadata.PartitionChange, Topic: topic, Partitions: []metadata.Partition{np}}, partitionEpoch)
}

// forwardPartitionChange sends a leader's ISR change to the controller.
func (b *Broker) forwardPartitionChange(ctx context.Context, rec metadata.Record, seenEpoch int32) error {
	np := rec.Partitions[0]
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = b.cfg.NodeID, -1
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = rec.Topic
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = np.ID, np.LeaderEpoch, seenEpoch, np.ISR
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := b.toController(ctx, req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.AlterPartitionResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
		}
	}
	return nil
}
