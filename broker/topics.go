package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// commit replicates r through the metadata quorum and returns once it is
// applied to b.state (by metaHooks, on Raft's goroutine). Caller holds metaMu.
func (b *Broker) commit(r metadata.Record) error {
	b.mu.RLock()
	err := b.state.Check(r)
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	return b.quorum.Apply(context.Background(), r)
}

// NodeID implements kafka.Backend.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// ClusterID implements kafka.Backend.
func (b *Broker) ClusterID() string { return b.clusterID }

// Advertised implements kafka.Backend.
func (b *Broker) Advertised() (string, int32) { return b.advHost, b.advPort }

// Rack implements kafka.Backend.
func (b *Broker) Rack() *string {
	if b.cfg.Rack == "" {
		if v, _, ok := b.brokerValue("broker.rack"); ok && v != "" {
			return &v
		}
		return nil
	}
	r := b.cfg.Rack
	return &r
}

// Topics implements kafka.Backend.
func (b *Broker) Topics() []*metadata.Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.state.Topics()
}

// Topic implements kafka.Backend.
func (b *Broker) Topic(name string) (*metadata.Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.state.Topic(name)
}

// TopicByID implements kafka.Backend.
func (b *Broker) TopicByID(id [16]byte) (*metadata.Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.state.TopicByID(id)
}

// AutoCreateTopics implements kafka.Backend.
func (b *Broker) AutoCreateTopics() bool { return b.setting("auto.create.topics.enable") == "true" }

// DefaultPartitions implements kafka.Backend.
func (b *Broker) DefaultPartitions() int32 { return int32(b.brokerInt("num.partitions")) }

// DefaultReplicationFactor implements kafka.Backend.
func (b *Broker) DefaultReplicationFactor() int16 {
	return int16(b.brokerInt("default.replication.factor"))
}

// LogDir implements kafka.Backend.
func (b *Broker) LogDir() string { return b.setting("log.dirs") }

// Log implements kafka.Backend: the open log of a partition this node
// leads, or nil.
func (b *Broker) Log(topic string, p int32) *storage.Log {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if pt, _ := b.ledLocked(topic, p); pt != nil {
		return pt.log
	}
	return nil
}

// ledLocked returns the partition if this node leads it, with its leader
// epoch. Caller holds mu.
func (b *Broker) ledLocked(topic string, p int32) (*partition, int32) {
	pt := b.parts[storage.TopicPartition{Topic: topic, Partition: p}]
	if pt == nil {
		return nil, -1
	}
	t, ok := b.state.Topic(topic)
	if !ok || p < 0 || int(p) >= len(t.Partitions) || t.Partitions[p].Leader != b.cfg.NodeID {
		return nil, -1
	}
	return pt, t.Partitions[p].LeaderEpoch
}

// notLeaderErr is the error for a partition this node does not lead.
// Caller holds mu.
func (b *Broker) notLeaderErr(topic string, p int32) error {
	if t, ok := b.state.Topic(topic); ok && p >= 0 && int(p) < len(t.Partitions) {
		return fmt.Errorf("%w: %s-%d is led by %d", kerr.NotLeaderForPartition, topic, p, t.Partitions[p].Leader)
	}
	return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topic, p)
}

// validTopicName applies Kafka's topic name rules.
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: topic name %q is illegal", kerr.InvalidTopicException, name)
	}
	if len(name) > 249 {
		return fmt.Errorf("%w: topic name is longer than 249 characters", kerr.InvalidTopicException)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}

// CreateTopic implements kafka.Backend.
func (b *Broker) CreateTopic(ctx context.Context, req kafka.CreateTopic) (*metadata.Topic, error) {
	if err := validTopicName(req.Name); err != nil {
		return nil, err
	}
	var parts []metadata.Partition
	if len(req.Assignment) > 0 {
		if req.Partitions != -1 || req.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both replica assignment and partitions/replication factor given", kerr.InvalidRequest)
		}
		for i, replicas := range req.Assignment {
			if err := b.checkReplicas(replicas); err != nil {
				return nil, err
			}
			parts = append(parts, newPartition(int32(i), replicas))
		}
	} else {
		n, rf := req.Partitions, req.ReplicationFactor
		if n == -1 {
			n = b.DefaultPartitions()
		}
		if rf == -1 {
			rf = b.DefaultReplicationFactor()
		}
		if n <= 0 {
			return nil, fmt.Errorf("%w: number of partitions must be larger than 0", kerr.InvalidPartitions)
		}
		as, err := metadata.AssignReplicas(b.Brokers(), 0, n, rf, mrand.N(1<<20))
		if err != nil {
			return nil, err
		}
		for i, replicas := range as {
			parts = append(parts, newPartition(int32(i), replicas))
		}
	}
	if !req.ValidateOnly && !b.quorum.IsLeader() {
		return b.forwardCreateTopic(ctx, req)
	}
	configs := map[string]string{}
	for k, v := range req.Configs {
		if v != nil {
			configs[k] = *v
		}
	}
	if err := ValidateTopicConfigs(configs); err != nil {
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID, as Kafka's Uuid.randomUuid
	id[8] = id[8]&0x3f | 0x80
	rec := metadata.Record{Type: metadata.CreateTopic, Topic: req.Name, TopicID: id, Partitions: parts, Configs: configs}
	if len(configs) == 0 {
		rec.Configs = nil
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.RLock()
	err := b.state.Check(rec)
	if err == nil {
		err = b.collides(req.Name)
	}
	b.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if req.ValidateOnly {
		t := &metadata.Topic{Name: req.Name, ID: id, Partitions: parts, Configs: configs}
		return t, nil
	}
	if err := b.commit(rec); err != nil {
		return nil, err
	}
	t, _ := b.Topic(req.Name)
	if err := b.openTopicPartitions(t, parts); err != nil {
		return nil, err
	}
	b.log.Info("topic created", "topic", t.Name, "partitions", len(parts))
	return t, nil
}

// collides reports Kafka's rule that topics differing only in '.' vs '_'
// collide (their metric names would). Caller holds mu.
func (b *Broker) collides(name string) error {
	norm := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	for _, t := range b.state.Topics() {
		if t.Name != name && norm(t.Name) == norm(name) {
			return fmt.Errorf("%w: topic %q collides with existing topic %q", kerr.InvalidTopicException, name, t.Name)
		}
	}
	return nil
}

// newPartition is a new partition led by its first (preferred) replica
// with every replica in sync.
func newPartition(id int32, replicas []int32) metadata.Partition {
	return metadata.Partition{ID: id, Replicas: replicas, Leader: replicas[0], ISR: slices.Clone(replicas)}
}

func (b *Broker) checkReplicas(replicas []int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: empty replica list", kerr.InvalidReplicaAssignment)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for i, r := range replicas {
		if _, ok := b.state.Broker(r); !ok {
			return fmt.Errorf("%w: broker %d does not exist", kerr.InvalidReplicaAssignment, r)
		}
		if slices.Contains(replicas[:i], r) {
			return fmt.Errorf("%w: duplicate brokers in replica list", kerr.InvalidReplicaAssignment)
		}
	}
	return nil
}

func (b *Broker) openTopicPartitions(t *metadata.Topic, parts []metadata.Partition) error {
	cfg := b.logConfig(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range parts {
		if !b.isReplica(p) {
			continue
		}
		if err := b.openPartitionLocked(storage.TopicPartition{Topic: t.Name, Partition: p.ID}, cfg); err != nil {
			return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
		}
	}
	return nil
}

// DeleteTopic implements kafka.Backend. The deletion record is persisted
// first; partition data is then removed (on restart, leftovers are too).
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	if name == offsetsTopic {
		return fmt.Errorf("%w: cannot delete internal topic %s", kerr.TopicAuthorizationFailed, name)
	}
	if b.setting("delete.topic.enable") != "true" {
		return fmt.Errorf("%w: topic deletion is disabled", kerr.TopicDeletionDisabled)
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	t, ok := b.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, name)
	}
	if err := b.commit(metadata.Record{Type: metadata.DeleteTopic, Topic: name}); err != nil {
		return err
	}
	// Whoever removes a b.parts entry (this or reconcile) deletes its data.
	var mine []int32
	b.mu.Lock()
	for _, p := range t.Partitions {
		tp := storage.TopicPartition{Topic: name, Partition: p.ID}
		if b.parts[tp] != nil {
			delete(b.parts, tp)
			mine = append(mine, p.ID)
		}
	}
	b.mu.Unlock()
	var errs []error
	for _, p := range mine {
		errs = append(errs, b.store.DeletePartition(name, p))
	}
	b.metrics.ForgetTopic(name)
	b.groups.TopicsDeleted([]string{name})
	b.log.Info("topic deleted", "topic", name)
	return errors.Join(errs...)
}

// CreatePartitions implements kafka.Backend.
func (b *Broker) CreatePartitions(ctx context.Context, topic string, count int32, assignment [][]int32, validateOnly bool) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	t, ok := b.Topic(topic)
	if !ok {
		return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, topic)
	}
	have := int32(len(t.Partitions))
	if count < have {
		return fmt.Errorf("%w: topic has %d partitions, cannot decrease to %d", kerr.InvalidPartitions, have, count)
	}
	if count == have {
		return fmt.Errorf("%w: topic already has %d partitions", kerr.InvalidPartitions, have)
	}
	if assignment != nil && int32(len(assignment)) != count-have {
		return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(assignment), count-have)
	}
	var parts []metadata.Partition
	if assignment == nil {
		var err error
		assignment, err = metadata.AssignReplicas(b.Brokers(), have, count-have, int16(len(t.Partitions[0].Replicas)), mrand.N(1<<20))
		if err != nil {
			return err
		}
	}
	for i := have; i < count; i++ {
		replicas := assignment[i-have]
		if err := b.checkReplicas(replicas); err != nil {
			return err
		}
		parts = append(parts, newPartition(i, replicas))
	}
	if validateOnly {
		return nil
	}
	if err := b.commit(metadata.Record{Type: metadata.CreatePartitions, Topic: topic, Partitions: parts}); err != nil {
		return err
	}
	t, _ = b.Topic(topic)
	return b.openTopicPartitions(t, parts)
}

// Append implements kafka.Backend: append batches to a partition as its
// leader; with one replica the high watermark moves to the log end at once,
// with more it follows the in-sync replicas, and acks=-1 waits for them.
func (b *Broker) Append(ctx context.Context, topic string, p int32, batches []byte, acks int16) (storage.AppendResult, error) {
	b.mu.RLock()
	pt, epoch := b.ledLocked(topic, p)
	var nle error
	var info metadata.Partition
	if pt == nil {
		nle = b.notLeaderErr(topic, p)
	} else {
		t, _ := b.state.Topic(topic)
		info = t.Partitions[p]
	}
	b.mu.RUnlock()
	if pt == nil {
		return storage.AppendResult{}, nle
	}
	replicated := len(info.Replicas) > 1
	if replicated && acks == -1 {
		if n, want := len(info.InSync()), b.minISR(topic); n < want {
			return storage.AppendResult{}, fmt.Errorf("%w: %d in-sync replicas, min.insync.replicas is %d", kerr.NotEnoughReplicas, n, want)
		}
	}
	res, err := pt.log.Append(batches, epoch)
	if err != nil {
		return res, err
	}
	pt.hwMu.Lock()
	b.advanceHWLocked(pt, info)
	pt.hwMu.Unlock()
	if replicated && acks == -1 {
		if err := b.waitReplicated(ctx, topic, p, pt, res.LastOffset+1); err != nil {
			return res, err
		}
		if cur, ok := b.partitionInfo(topic, p); ok && len(cur.InSync()) < b.minISR(topic) {
			return res, fmt.Errorf("%w: the ISR shrank below min.insync.replicas", kerr.NotEnoughReplicasAfterAppend)
		}
	}
	return res, nil
}

// producerIDBlock is how many producer ids one metadata record reserves.
const producerIDBlock = 1000

// AllocateProducerID implements kafka.Backend. Ids are reserved in blocks
// persisted before use, so an id is never handed out twice, even after a
// crash (unused ids of a block are skipped).
func (b *Broker) AllocateProducerID(ctx context.Context) (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.pidNext >= b.pidLast {
		start, n, err := b.producerIDBlock(ctx)
		if err != nil {
			return -1, err
		}
		b.pidNext, b.pidLast = start, start+int64(n)
	}
	id := b.pidNext
	b.pidNext++
	return id, nil
}

// producerIDBlock reserves a block at the controller: in process when this
// node is the controller, else with AllocateProducerIds (as KRaft brokers do).
func (b *Broker) producerIDBlock(ctx context.Context) (int64, int32, error) {
	if b.quorum.IsLeader() {
		return b.AllocateProducerIDBlock(ctx)
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = b.cfg.NodeID, -1
	resp, err := b.toController(ctx, req)
	if err != nil {
		return 0, 0, err
	}
	r := resp.(*kmsg.AllocateProducerIDsResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return 0, 0, err
	}
	return r.ProducerIDStart, r.ProducerIDLen, nil
}

// AllocateProducerIDBlock implements kafka.Backend on the active
// controller: the block is committed before it is handed out.
func (b *Broker) AllocateProducerIDBlock(ctx context.Context) (int64, int32, error) {
	if !b.quorum.IsLeader() {
		return 0, 0, metadata.ErrNotController
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.RLock()
	next := b.state.NextProducerID()
	b.mu.RUnlock()
	if err := b.commit(metadata.Record{Type: metadata.ProducerIDs, NextProducerID: next + producerIDBlock}); err != nil {
		return 0, 0, err
	}
	return next, producerIDBlock, nil
}

// forwardCreateTopic sends a topic creation to the active controller (as
// Kafka brokers forward since KIP-590) and waits until this node has applied
// it.
func (b *Broker) forwardCreateTopic(ctx context.Context, ct kafka.CreateTopic) (*metadata.Topic, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = ct.Name, ct.Partitions, ct.ReplicationFactor
	for i, replicas := range ct.Assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	for k, v := range ct.Configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := b.toController(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, err
		}
	}
	for {
		if t, ok := b.Topic(ct.Name); ok {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: topic %s created at the controller, not yet here", kerr.RequestTimedOut, ct.Name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
