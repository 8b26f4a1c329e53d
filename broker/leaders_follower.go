package broker

import (
	"slices"
	"strings"

	"github.com/sluicehq/sluice/broker/storage"
)

// Follower fetching for consumers (KIP-392): with replica.selector.class
// set to RackAwareReplicaSelector, a leader answers a consumer's Fetch
// (v11+, client.rack set) for which an in-sync follower in the consumer's
// rack has the fetch offset with that follower as the preferred read
// replica and no records; the consumer then fetches from the follower,
// which serves it up to its high watermark. The leader stays the choice
// when it is in the consumer's rack.

// FollowerLog implements kafka.FollowerReads.
func (b *Broker) FollowerLog(topic string, p int32) *storage.Log {
	b.mu.RLock()
	defer b.mu.RUnlock()
	pt := b.parts[storage.TopicPartition{Topic: topic, Partition: p}]
	t, ok := b.state.Topic(topic)
	if pt == nil || !ok || p < 0 || int(p) >= len(t.Partitions) {
		return nil
	}
	info := t.Partitions[p]
	if info.Leader == b.cfg.NodeID || info.Leader < 0 || slices.Contains(info.AddingReplicas, b.cfg.NodeID) || !slices.Contains(info.InSync(), b.cfg.NodeID) {
		return nil
	}
	return pt.log
}

// rackAwareSelector reports whether replica.selector.class picks replicas
// by rack.
func (b *Broker) rackAwareSelector() bool {
	v := strings.TrimSpace(b.cfg.Settings["replica.selector.class"]) // read-only: no dynamic value
	return strings.EqualFold(v, "org.apache.kafka.common.replica.RackAwareReplicaSelector") || strings.EqualFold(v, "RackAwareReplicaSelector")
}

// PreferredReadReplica implements kafka.FollowerReads: among the live
// in-sync followers in rack that have offset, the one furthest ahead; -1
// (the leader) when the leader is in rack, or none qualifies.
func (b *Broker) PreferredReadReplica(topic string, p int32, rack string, offset int64) int32 {
	if rack == "" || !b.rackAwareSelector() {
		return -1
	}
	if r := b.Rack(); r != nil && *r == rack {
		return -1
	}
	b.mu.RLock()
	pt, _ := b.ledLocked(topic, p)
	var cands []int32
	var epoch int32
	if pt != nil {
		t, _ := b.state.Topic(topic)
		info := t.Partitions[p]
		epoch = info.LeaderEpoch
		for _, r := range info.InSync() {
			br, ok := b.state.Broker(r)
			if r != b.cfg.NodeID && ok && !br.Fenced && br.Rack == rack && !slices.Contains(info.AddingReplicas, r) {
				cands = append(cands, r)
			}
		}
	}
	b.mu.RUnlock()
	if len(cands) == 0 {
		return -1
	}
	best, bestLEO := int32(-1), int64(-1)
	pt.hwMu.Lock()
	if ls := pt.lead; ls != nil && ls.epoch == epoch && offset <= pt.log.HighWatermark() {
		for _, r := range cands {
			if rs := ls.replicas[r]; rs != nil && rs.leo >= offset && rs.leo > bestLEO {
				best, bestLEO = r, rs.leo
			}
		}
	}
	pt.hwMu.Unlock()
	return best
}
