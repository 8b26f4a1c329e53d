package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// commit persists r to the metadata log and applies it. Caller holds metaMu.
func (b *Broker) commit(r metadata.Record) error {
	b.mu.RLock()
	err := b.state.Check(r)
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := b.metaLog.Append(r); err != nil {
		return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.Apply(r)
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

// Log implements kafka.Backend: the open log of a partition, or nil.
func (b *Broker) Log(topic string, p int32) *storage.Log {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if pt := b.parts[storage.TopicPartition{Topic: topic, Partition: p}]; pt != nil {
		return pt.log
	}
	return nil
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
			parts = append(parts, metadata.Partition{ID: int32(i), Replicas: replicas, Leader: replicas[0]})
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
		if rf <= 0 || rf > 1 {
			return nil, fmt.Errorf("%w: replication factor %d is larger than the 1 available broker", kerr.InvalidReplicationFactor, rf)
		}
		for i := range n {
			parts = append(parts, metadata.Partition{ID: i, Replicas: []int32{b.cfg.NodeID}, Leader: b.cfg.NodeID})
		}
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

func (b *Broker) checkReplicas(replicas []int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: empty replica list", kerr.InvalidReplicaAssignment)
	}
	for _, r := range replicas {
		if r != b.cfg.NodeID {
			return fmt.Errorf("%w: broker %d does not exist", kerr.InvalidReplicaAssignment, r)
		}
	}
	if len(replicas) > 1 {
		return fmt.Errorf("%w: duplicate brokers in replica list", kerr.InvalidReplicaAssignment)
	}
	return nil
}

func (b *Broker) openTopicPartitions(t *metadata.Topic, parts []metadata.Partition) error {
	cfg := b.logConfig(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range parts {
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
	b.mu.Lock()
	for _, p := range t.Partitions {
		delete(b.parts, storage.TopicPartition{Topic: name, Partition: p.ID})
	}
	b.mu.Unlock()
	var errs []error
	for _, p := range t.Partitions {
		errs = append(errs, b.store.DeletePartition(name, p.ID))
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
	for i := have; i < count; i++ {
		replicas := []int32{b.cfg.NodeID}
		if assignment != nil {
			replicas = assignment[i-have]
			if err := b.checkReplicas(replicas); err != nil {
				return err
			}
		}
		parts = append(parts, metadata.Partition{ID: i, Replicas: replicas, Leader: replicas[0]})
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
// leader and, with no followers, move the high watermark to the log end.
func (b *Broker) Append(topic string, p int32, batches []byte) (storage.AppendResult, error) {
	b.mu.RLock()
	pt := b.parts[storage.TopicPartition{Topic: topic, Partition: p}]
	b.mu.RUnlock()
	if pt == nil {
		return storage.AppendResult{}, fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topic, p)
	}
	res, err := pt.log.Append(batches, 0)
	if err != nil {
		return res, err
	}
	pt.hwMu.Lock()
	pt.log.SetHighWatermark(pt.log.LogEndOffset())
	pt.hwMu.Unlock()
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
		b.metaMu.Lock()
		b.mu.RLock()
		next := b.state.NextProducerID()
		b.mu.RUnlock()
		err := b.commit(metadata.Record{Type: metadata.ProducerIDs, NextProducerID: next + producerIDBlock})
		b.metaMu.Unlock()
		if err != nil {
			return -1, err
		}
		b.pidNext, b.pidLast = next, next+producerIDBlock
	}
	id := b.pidNext
	b.pidNext++
	return id, nil
}
