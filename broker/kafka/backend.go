package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// Backend is what the protocol handlers need from the broker. Errors carry a
// *kerr.Error (test with errors.As) that becomes the client's error code;
// anything else is UNKNOWN_SERVER_ERROR.
type Backend interface {
	NodeID() int32
	ClusterID() string
	// Advertised is the host and port published in Metadata.
	Advertised() (host string, port int32)
	Rack() *string
	// Brokers are the live (unfenced) brokers of the cluster, this one
	// included; ControllerID is the active controller or -1.
	Brokers() []metadata.BrokerInfo
	ControllerID() int32
	// RegisterBroker and BrokerHeartbeat serve the broker lifecycle APIs on
	// the active controller (NOT_CONTROLLER elsewhere).
	RegisterBroker(ctx context.Context, reg BrokerRegistration) (epoch int64, err error)
	BrokerHeartbeat(ctx context.Context, id int32, epoch int64, wantFence bool) (fenced bool, err error)

	// Topics, Topic and TopicByID read the metadata; the returned topics are
	// immutable snapshots.
	Topics() []*metadata.Topic
	Topic(name string) (*metadata.Topic, bool)
	TopicByID(id [16]byte) (*metadata.Topic, bool)
	AutoCreateTopics() bool
	DefaultPartitions() int32
	DefaultReplicationFactor() int16

	CreateTopic(ctx context.Context, req CreateTopic) (*metadata.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, topic string, count int32, assignment [][]int32, validateOnly bool) error

	// Log is the open log of a partition this node leads, or nil.
	Log(topic string, partition int32) *storage.Log
	// Append appends producer batches to a partition as its leader and
	// advances the high watermark as replication allows. With acks -1 it
	// returns once the in-sync replicas have the batches (or ctx ends).
	Append(ctx context.Context, topic string, partition int32, batches []byte, acks int16) (storage.AppendResult, error)
	// ReplicaFetched tells the leader that follower replica fetched the
	// partition from offset (its log end).
	ReplicaFetched(topic string, partition int32, replica int32, offset int64)
	// AlterPartition serves a leader's ISR change on the active controller.
	AlterPartition(ctx context.Context, leader int32, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) error

	AllocateProducerID(ctx context.Context) (int64, error)
	// AllocateProducerIDBlock reserves a block of producer ids for a broker
	// (on the active controller).
	AllocateProducerIDBlock(ctx context.Context) (start int64, n int32, err error)

	// DescribeConfigs returns the configs of a topic or broker (keys nil: all).
	DescribeConfigs(typ kmsg.ConfigResourceType, name string, keys []string, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error)
	AlterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, changes []ConfigChange, incremental, validateOnly bool) error
	// LogDir is the directory holding the partition logs.
	LogDir() string
}

// BrokerRegistration is a BrokerRegistration request's content.
type BrokerRegistration struct {
	ID        int32
	ClusterID string
	Host      string
	Port      int32
	Rack      string
	// Observer is the Raft address of a broker-only node (its listener
	// named METADATA). A registration with only that listener is a join:
	// the controller adds the node to the metadata quorum as a non-voter
	// and registers nothing until the node registers its Kafka listener.
	Observer string
	JoinOnly bool
}

// MetadataListener names the listener a broker-only node's Raft address is
// registered under.
const MetadataListener = "METADATA"

// CreateTopic is one topic of a CreateTopics request. Partitions and
// ReplicationFactor are -1 for the broker defaults or when Assignment is set.
type CreateTopic struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Assignment        [][]int32 // replicas by partition id
	Configs           map[string]*string
	ValidateOnly      bool
}

// Config change operations (IncrementalAlterConfigs' op codes; legacy
// AlterConfigs uses OpSet for every entry).
const (
	OpSet      = int8(kmsg.IncrementalAlterConfigOpSet)
	OpDelete   = int8(kmsg.IncrementalAlterConfigOpDelete)
	OpAppend   = int8(kmsg.IncrementalAlterConfigOpAppend)
	OpSubtract = int8(kmsg.IncrementalAlterConfigOpSubtract)
)

// ConfigChange is one config entry of AlterConfigs or IncrementalAlterConfigs.
type ConfigChange struct {
	Name  string
	Value *string
	Op    int8
}
