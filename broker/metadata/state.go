// Package metadata is the broker's cluster metadata state machine: topics
// (name, topic ID, partitions, replicas, leaders, ISRs, configs), broker
// registrations and producer-id blocks, changed only by applying Records;
// plus the pure cluster decisions over it (rack-aware placement, leader
// election) and the Raft quorum that replicates the Records (quorum.go,
// with its file-based log store in raftstore.go).
//
// The State does no I/O, starts no goroutine and reads no clock: the same
// sequence of Records always yields the same State on every node (KRaft's
// role). The broker owns the edges: it generates topic IDs, validates
// requests and commits each Record through the Quorum, which applies it.
package metadata

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition is one partition of a topic.
type Partition struct {
	ID          int32   `json:"id"`
	Replicas    []int32 `json:"replicas"`
	Leader      int32   `json:"leader"` // -1: offline
	LeaderEpoch int32   `json:"leader_epoch"`
	// ISR is the in-sync replica set; nil in records written before the
	// cluster work means every replica (see InSync).
	ISR []int32 `json:"isr,omitempty"`
	// PartitionEpoch grows with every change of leader, ISR or replicas.
	PartitionEpoch int32 `json:"partition_epoch,omitempty"`
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (KRaft's adding/removing replicas): Replicas is then the
	// target replicas followed by the removing ones (reassign.go).
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
}

// InSync is the ISR, or every replica when none was recorded.
func (p Partition) InSync() []int32 {
	if p.ISR == nil {
		return p.Replicas
	}
	return p.ISR
}

// Topic is a topic as the state machine knows it. A *Topic handed out by
// State is never modified afterwards (Apply replaces, never mutates), so
// readers may keep it without locks.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions []Partition       `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // only the topic's overrides
}

// Record types.
const (
	CreateTopic      = "create_topic"
	DeleteTopic      = "delete_topic"
	CreatePartitions = "create_partitions"
	SetTopicConfigs  = "set_topic_configs"
	SetBrokerConfigs = "set_broker_configs"
	ProducerIDs      = "producer_ids"
	RegisterBroker   = "register_broker"
	FenceBroker      = "fence_broker"
	UnfenceBroker    = "unfence_broker"
	PartitionChange  = "partition_change"
	// LegacyImport carries, as one Raft entry, the records of a metadata.log
	// written before the metadata moved to Raft.
	LegacyImport = "legacy_import"
)

// Record is one change to the state. Fields used depend on Type:
//
//	create_topic: Topic, TopicID, Partitions, Configs
//	delete_topic: Topic
//	create_partitions: Topic, Partitions (the new ones only)
//	set_topic_configs: Topic, Configs (replaces all overrides)
//	set_broker_configs: Configs (replaces all dynamic broker configs)
//	producer_ids: NextProducerID (first id not yet handed out after this block)
//	legacy_import: Records (applied in order; one that does not apply is skipped)
//	register_broker: Broker (a new registration replaces the old; it starts fenced)
//	fence_broker, unfence_broker: Broker.ID, Broker.Epoch (the registration's)
//	partition_change: Topic, Partitions (whole replacements of existing ones)
type Record struct {
	Type           string            `json:"type"`
	Topic          string            `json:"topic,omitempty"`
	TopicID        [16]byte          `json:"topic_id,omitzero"`
	Partitions     []Partition       `json:"partitions,omitempty"`
	Configs        map[string]string `json:"configs,omitempty"`
	NextProducerID int64             `json:"next_producer_id,omitempty"`
	Records        []Record          `json:"records,omitempty"`
	Broker         *BrokerInfo       `json:"broker,omitempty"`
}

// State is the metadata. The zero value is not ready; use New.
type State struct {
	topics         map[string]*Topic
	byID           map[[16]byte]string
	brokerConfigs  map[string]string
	nextProducerID int64
	applied        int64
	legacyImported bool
	brokers        map[int32]*BrokerInfo
}

// New returns an empty State.
func New() *State {
	return &State{topics: map[string]*Topic{}, byID: map[[16]byte]string{}, brokerConfigs: map[string]string{}, brokers: map[int32]*BrokerInfo{}}
}

// Applied is the number of records applied.
func (s *State) Applied() int64 { return s.applied }

// Topic returns the topic by name.
func (s *State) Topic(name string) (*Topic, bool) {
	t, ok := s.topics[name]
	return t, ok
}

// TopicByID returns the topic by ID.
func (s *State) TopicByID(id [16]byte) (*Topic, bool) {
	n, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return s.topics[n], true
}

// Topics returns every topic sorted by name.
func (s *State) Topics() []*Topic {
	out := make([]*Topic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// BrokerConfigs returns a copy of the dynamic broker configs.
func (s *State) BrokerConfigs() map[string]string { return maps.Clone(s.brokerConfigs) }

// LegacyImported reports whether a legacy_import record has been applied.
func (s *State) LegacyImported() bool { return s.legacyImported }

// NextProducerID is the first producer id not yet reserved.
func (s *State) NextProducerID() int64 { return s.nextProducerID }

// Check reports whether r would apply, without changing the state.
func (s *State) Check(r Record) error {
	switch r.Type {
	case CreateTopic:
		if r.Topic == "" {
			return fmt.Errorf("%w: empty topic name", kerr.InvalidTopicException)
		}
		if _, ok := s.topics[r.Topic]; ok {
			return fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, r.Topic)
		}
		if _, ok := s.byID[r.TopicID]; ok || r.TopicID == ([16]byte{}) {
			return fmt.Errorf("%w: topic id in use or zero", kerr.InvalidRequest)
		}
		return checkPartitions(r.Partitions, 0)
	case DeleteTopic, SetTopicConfigs:
		if _, ok := s.topics[r.Topic]; !ok {
			return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, r.Topic)
		}
	case CreatePartitions:
		t, ok := s.topics[r.Topic]
		if !ok {
			return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, r.Topic)
		}
		return checkPartitions(r.Partitions, int32(len(t.Partitions)))
	case SetBrokerConfigs:
	case LegacyImport:
		if s.legacyImported {
			return fmt.Errorf("%w: legacy metadata already imported", kerr.InvalidRequest)
		}
	case RegisterBroker, FenceBroker, UnfenceBroker:
		return s.checkBroker(r)
	case PartitionChange:
		return s.checkPartitionChange(r)
	case ProducerIDs:
		if r.NextProducerID < s.nextProducerID {
			return fmt.Errorf("%w: producer ids must only grow", kerr.InvalidRequest)
		}
	default:
		return fmt.Errorf("%w: unknown metadata record type %q", kerr.InvalidRequest, r.Type)
	}
	return nil
}

func checkPartitions(ps []Partition, first int32) error {
	if first == 0 && len(ps) == 0 {
		return fmt.Errorf("%w: a topic needs at least one partition", kerr.InvalidPartitions)
	}
	for i, p := range ps {
		if p.ID != first+int32(i) {
			return fmt.Errorf("%w: partition ids must be contiguous from %d", kerr.InvalidPartitions, first)
		}
		if len(p.Replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", kerr.InvalidReplicaAssignment, p.ID)
		}
	}
	return nil
}

// Apply applies r, or returns why it cannot (leaving the state unchanged).
func (s *State) Apply(r Record) error {
	if err := s.Check(r); err != nil {
		return err
	}
	switch r.Type {
	case CreateTopic:
		t := &Topic{Name: r.Topic, ID: r.TopicID, Partitions: clonePartitions(r.Partitions), Configs: maps.Clone(r.Configs)}
		s.topics[t.Name] = t
		s.byID[t.ID] = t.Name
	case DeleteTopic:
		t := s.topics[r.Topic]
		delete(s.topics, r.Topic)
		delete(s.byID, t.ID)
	case CreatePartitions:
		old := s.topics[r.Topic]
		t := *old
		t.Partitions = append(clonePartitions(old.Partitions), clonePartitions(r.Partitions)...)
		s.topics[r.Topic] = &t
	case SetTopicConfigs:
		old := s.topics[r.Topic]
		t := *old
		t.Configs = maps.Clone(r.Configs)
		s.topics[r.Topic] = &t
	case SetBrokerConfigs:
		s.brokerConfigs = maps.Clone(r.Configs)
		if s.brokerConfigs == nil {
			s.brokerConfigs = map[string]string{}
		}
	case ProducerIDs:
		s.nextProducerID = r.NextProducerID
	case RegisterBroker, FenceBroker, UnfenceBroker:
		s.applyBroker(r)
	case PartitionChange:
		old := s.topics[r.Topic]
		t := *old
		t.Partitions = clonePartitions(old.Partitions)
		for _, p := range r.Partitions {
			t.Partitions[p.ID] = clonePartitions([]Partition{p})[0]
		}
		s.topics[r.Topic] = &t
	case LegacyImport:
		for _, sub := range r.Records {
			if sub.Type != LegacyImport {
				_ = s.Apply(sub) // deterministic: every replica skips the same ones
			}
		}
		s.legacyImported = true
	}
	s.applied++
	return nil
}

func clonePartitions(ps []Partition) []Partition {
	out := make([]Partition, len(ps))
	for i, p := range ps {
		p.Replicas = slices.Clone(p.Replicas)
		p.ISR = slices.Clone(p.ISR)
		p.AddingReplicas = slices.Clone(p.AddingReplicas)
		p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
		out[i] = p
	}
	return out
}
