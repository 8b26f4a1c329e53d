package broker

import (
	"math"
	"slices"
	"sync"
	"time"
)

// The replication throttle of reassignments: leader.replication.throttled.rate
// and follower.replication.throttled.rate (bytes/s) bound what a leader
// sends to replicas that are out of sync while their partition is being
// reassigned, as Kafka's throttled replicas do once kafka-reassign-partitions
// --throttle has listed the moving replicas. In-sync followers are never
// throttled. Sluice enforces both rates at the leader (the smaller wins): a
// throttled partition's read is capped at the budget left (one whole batch
// at least, charged as debt), and left out of a follower's Fetch response
// while the budget is spent, the response waiting its max wait instead.

// replicationQuota is a token bucket of one second's worth of bytes.
type replicationQuota struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

// budget refills the bucket at rate and returns what it holds.
func (q *replicationQuota) budget(rate int64, now time.Time) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := float64(rate)
	if q.last.IsZero() {
		q.tokens, q.last = r, now
	}
	if q.rate != r {
		q.rate, q.tokens = r, min(q.tokens, r)
	}
	q.tokens = min(q.tokens+now.Sub(q.last).Seconds()*r, r)
	q.last = now
	return int64(q.tokens)
}

// use charges n bytes (the bucket may go into debt: a batch is sent whole).
func (q *replicationQuota) use(n int) {
	q.mu.Lock()
	q.tokens -= float64(n)
	q.mu.Unlock()
}

// ReplicationQuota implements kafka.FollowerReads.
func (b *Broker) ReplicationQuota(topic string, p, replica int32) (subject bool, budget int64) {
	info, ok := b.partitionInfo(topic, p)
	if !ok || !info.Reassigning() || slices.Contains(info.InSync(), replica) {
		return false, 0
	}
	rate := min(b.brokerInt("leader.replication.throttled.rate"), b.brokerInt("follower.replication.throttled.rate"))
	if rate <= 0 || rate == math.MaxInt64 {
		return false, 0
	}
	return true, b.rq.budget(rate, time.Now())
}

// ReplicationServed implements kafka.FollowerReads.
func (b *Broker) ReplicationServed(n int) { b.rq.use(n) }
