package kafka

import "github.com/sluicehq/sluice/broker/storage"

// FollowerReads is what Fetch needs, beside Backend, for consumers that
// fetch from followers (KIP-392) and for the replication throttle of
// partitions being reassigned. A Backend without it serves every fetch from
// leaders, unthrottled.
type FollowerReads interface {
	// FollowerLog is the open log of a partition this node follows (in
	// sync, not being added), for a consumer's fetch (v11+); nil otherwise.
	// Consumers read it up to the follower's high watermark.
	FollowerLog(topic string, partition int32) *storage.Log
	// PreferredReadReplica is the replica a consumer in rack should fetch
	// the partition from at offset (replica.selector.class), or -1 for
	// this node, the leader.
	PreferredReadReplica(topic string, partition int32, rack string, offset int64) int32
	// ReplicationQuota tells whether a follower's fetch of the partition
	// counts against the replication throttle (subject) and how many bytes
	// the throttle allows now: at most that much is read (one batch at
	// least), and nothing when it is 0 or less (the partition is left out
	// of this response, as Kafka's leader does).
	ReplicationQuota(topic string, partition, replica int32) (subject bool, budget int64)
	// ReplicationServed charges bytes sent to throttled followers.
	ReplicationServed(bytes int)
}

// Replication quota states of a fetchPart.
const (
	quotaNone = iota
	quotaSubject
	quotaThrottled
)
