// Package plugin is Sluice's connector SDK, shaped like Kafka Connect's: source
// and sink connectors split work into tasks; source tasks poll records and
// commit, sink tasks put records, flush and pre-commit offsets. Connectors
// declare typed config definitions that drive validation, defaults and docs,
// and register under a class name with aliases so existing Kafka Connect JSON
// configs resolve unchanged.
package plugin

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header is one record header; Value is the raw header bytes.
type Header struct {
	Key   string
	Value []byte
}

// SourceRecord is what a source task produces. Key and Value are Connect
// data: nil, bool, int64, float64, string, []byte, []any, map[string]any, or,
// under a KeySchema/ValueSchema, the types Schema documents (*Struct ...).
// SourcePartition and SourceOffset say where in the source this record came
// from; the runtime stores the offset in connect-offsets once the record is
// acknowledged by Kafka, and gives it back through TaskContext.Offset.
type SourceRecord struct {
	SourcePartition map[string]any
	SourceOffset    map[string]any
	Topic           string
	Partition       *int32  // nil lets the producer's partitioner choose
	KeySchema       *Schema // nil: schemaless
	Key             any
	ValueSchema     *Schema // nil: schemaless
	Value           any
	Headers         []Header
	Timestamp       time.Time
}

// SinkRecord is what a sink task receives: a Kafka record after conversion
// and transforms.
type SinkRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	// The schemas are set when the converter knows them (JsonConverter
	// with schemas.enable, the Avro converter); nil means schemaless.
	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any
	Headers     []Header
	Timestamp   time.Time
	// Consumed is the record as read from Kafka, before converters and
	// transforms (what a dead letter queue receives); nil when the record
	// did not come from Kafka (tests).
	Consumed *kgo.Record
}

// ErrantRecordReporter is Kafka Connect's errant record reporter: a sink
// task hands it a record it cannot write. Report applies the connector's
// errors.tolerance: it returns the error to fail the task with (none), or
// nil once the record is skipped and, with a dead letter queue, written
// there with its original key, value and headers (all).
type ErrantRecordReporter interface {
	Report(ctx context.Context, record *SinkRecord, cause error) error
}

// ErrantRecordReporterProvider is implemented by task contexts that offer
// an ErrantRecordReporter (Kafka Connect's SinkTaskContext.errantRecordReporter).
type ErrantRecordReporterProvider interface {
	ErrantRecordReporter() ErrantRecordReporter
}

// TopicPartition names a partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Connector is the part of a plugin that runs once per connector: it checks
// its configuration and splits the work into task configurations.
type Connector interface {
	// ConfigDef is the connector's configuration definition.
	ConfigDef() ConfigDef
	// Start begins with an already validated configuration.
	Start(config map[string]string) error
	// TaskConfigs returns at most maxTasks configurations, one per task.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	// Stop releases what Start took. It is called once.
	Stop() error
}

// TaskContext is what the runtime offers a running task.
type TaskContext interface {
	// Offset returns the last committed source offset for a source
	// partition, or nil. Only meaningful for source tasks.
	Offset(partition map[string]any) map[string]any
	// Bootstrap is the Kafka cluster the worker runs against.
	Bootstrap() []string
	// Producer is the worker's shared Kafka producer, for tasks that write
	// records of their own (failure destinations, heartbeats). Tasks must
	// not close it.
	Producer() *kgo.Client
}

// SourceTask reads from an external system.
type SourceTask interface {
	Start(ctx TaskContext, config map[string]string) error
	// Poll returns the next records, blocking no longer than about a second
	// when there are none (returning nil, nil is fine). It must return when
	// ctx ends. A returned error fails the task.
	Poll(ctx context.Context) ([]*SourceRecord, error)
	// Commit is called, on the goroutine that calls Poll, each time offsets
	// reached the offsets topic. The runtime pipelines polls with writes:
	// records returned by later polls may still be on their way, so a task
	// that acts on how far its records are durable implements
	// RecordCommitter.
	Commit() error
	Stop() error
}

// RecordCommitter is an optional SourceTask extension, as Kafka Connect's
// SourceTask.commitRecord: before each Commit the runtime calls
// CommitRecord with, per source partition, the newest record that Kafka
// acknowledged and whose offset the offsets topic now holds (every record
// polled before it is durable too).
type RecordCommitter interface {
	CommitRecord(record *SourceRecord) error
}

// SinkTask writes to an external system.
type SinkTask interface {
	Start(ctx TaskContext, config map[string]string) error
	// Put hands over records; the task may buffer them until Flush.
	Put(records []*SinkRecord) error
	// Flush makes every record put so far durable in the external system.
	Flush(offsets map[TopicPartition]int64) error
	// PreCommit returns the offsets safe to commit (the next offset to
	// read per partition); the usual answer is Flush then return offsets.
	PreCommit(offsets map[TopicPartition]int64) (map[TopicPartition]int64, error)
	Stop() error
}

// SourceConnector is a connector whose tasks are SourceTasks.
type SourceConnector interface {
	Connector
	NewTask() SourceTask
}

// SinkConnector is a connector whose tasks are SinkTasks.
type SinkConnector interface {
	Connector
	NewTask() SinkTask
}
