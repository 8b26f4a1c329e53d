package broker

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/metadata"
)

// ConfigSpec describes one broker or topic config by its Kafka name: its
// type, Kafka's default, documentation and validator. The tables below drive
// validation (sluice.yaml, CreateTopics, AlterConfigs), DescribeConfigs
// (sources, synonyms, documentation) and docs/configuration.md.
type ConfigSpec struct {
	Name     string
	Type     kmsg.ConfigType
	Default  string // "" with Nullable means no value (null)
	Nullable bool
	Doc      string
	Validate func(string) error // nil: any value of Type
	ReadOnly bool               // cannot be changed at run time
	// Synonyms of a topic config: the broker configs that set its default,
	// most preferred first, each with the factor its value is multiplied by
	// (log.retention.hours -> retention.ms is 3600000).
	Synonyms []Synonym
}

// Synonym is a broker config that provides a topic config's default.
type Synonym struct {
	Name   string
	Factor int64
}

func intRange(lo, hi int64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		if v < lo || v > hi {
			return fmt.Errorf("value %d not in [%d, %d]", v, lo, hi)
		}
		return nil
	}
}

func floatRange(lo, hi float64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		if v < lo || v > hi {
			return fmt.Errorf("value %v not in [%v, %v]", v, lo, hi)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(s string) error {
		for _, v := range vals {
			if strings.EqualFold(strings.TrimSpace(s), v) {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", s, strings.Join(vals, ", "))
	}
}

func listOf(vals ...string) func(string) error {
	one := oneOf(vals...)
	return func(s string) error {
		for _, part := range strings.Split(s, ",") {
			if err := one(part); err != nil {
				return err
			}
		}
		return nil
	}
}

func isBool(s string) error {
	if _, err := strconv.ParseBool(strings.TrimSpace(s)); err != nil || (s != "true" && s != "false") {
		return fmt.Errorf("not a boolean: %q", s)
	}
	return nil
}

const (
	tInt      = kmsg.ConfigTypeInt
	tLong     = kmsg.ConfigTypeLong
	tString   = kmsg.ConfigTypeString
	tBool     = kmsg.ConfigTypeBoolean
	tDouble   = kmsg.ConfigTypeDouble
	tList     = kmsg.ConfigTypeList
	maxLong   = math.MaxInt64
	maxInt    = math.MaxInt32
	maxLongS  = "9223372036854775807"
	compTypes = "uncompressed,zstd,lz4,snappy,gzip,producer"
)

var compressionValues = strings.Split(compTypes, ",")

func validVoters(s string) error {
	_, err := metadata.ParseVoters(s)
	return err
}

// BrokerConfigSpecs are the broker configs Sluice knows, with Kafka's names
// and defaults.
var BrokerConfigSpecs = []ConfigSpec{
	{Name: "broker.id", Type: tInt, Default: "0", ReadOnly: true, Validate: intRange(0, maxInt), Doc: "The broker id (node id) of this server."},
	{Name: "node.id", Type: tInt, Default: "0", ReadOnly: true, Validate: intRange(0, maxInt), Doc: "The node id of this server; same as broker.id."},
	{Name: "broker.rack", Type: tString, Nullable: true, ReadOnly: true, Doc: "Rack (zone) of the broker, used for rack-aware replica placement and follower fetching."},
	{Name: "cluster.id", Type: tString, Nullable: true, ReadOnly: true, Doc: "The cluster id written to meta.properties on a node's first start (Kafka sets it with kafka-storage format -t). Required, the same on every node, when controller.quorum.voters lists several voters; a single node makes one up."},
	{Name: "process.roles", Type: tList, Default: "broker,controller", ReadOnly: true, Validate: listOf("broker", "controller"), Doc: "The roles of this node. A node listed in controller.quorum.voters is a voter of the metadata quorum (broker,controller); a node that is not must be broker only: it follows the metadata as a Raft non-voter (see metadata.observer.listener)."},
	{Name: "metadata.observer.listener", Type: tString, Nullable: true, ReadOnly: true, Doc: "A broker-only node's Raft address (host:port) on which it receives the metadata log from the active controller as a non-voter."},
	{Name: "controller.quorum.bootstrap.servers", Type: tList, Nullable: true, ReadOnly: true, Doc: "A broker-only node's way in: Kafka listeners (host:port) of nodes of the cluster; it asks them to have the active controller add it to the metadata quorum as a non-voter."},
	{Name: "controller.quorum.voters", Type: tList, Nullable: true, ReadOnly: true, Validate: validVoters, Doc: "The metadata quorum's voters as id@host:port of their Raft (controller) listeners. Unset: a quorum of one, this node."},
	{Name: "broker.session.timeout.ms", Type: tInt, Default: "9000", ReadOnly: true, Validate: intRange(1, maxInt), Doc: "A broker whose heartbeats stop for this long is fenced by the active controller: it leaves the ISRs and loses its leaderships."},
	{Name: "broker.heartbeat.interval.ms", Type: tInt, Default: "2000", ReadOnly: true, Validate: intRange(1, maxInt), Doc: "How often a broker heartbeats to the active controller."},
	{Name: "listeners", Type: tString, Default: "PLAINTEXT://:9092", ReadOnly: true, Doc: "Listener URIs the broker binds to."},
	{Name: "advertised.listeners", Type: tString, Nullable: true, ReadOnly: true, Doc: "Listeners published to clients in Metadata if different from listeners."},
	{Name: "log.dirs", Type: tString, Nullable: true, ReadOnly: true, Doc: "The directory in which the log data is kept (Sluice: <data_dir>/kafka/logs)."},
	{Name: "num.partitions", Type: tInt, Default: "1", Validate: intRange(1, maxInt), Doc: "The default number of partitions per topic created without an explicit count (auto-created topics too)."},
	{Name: "default.replication.factor", Type: tInt, Default: "1", Validate: intRange(1, maxInt), Doc: "The default replication factor for automatically created topics."},
	{Name: "auto.create.topics.enable", Type: tBool, Default: "true", Validate: isBool, ReadOnly: true, Doc: "Enable auto creation of topics on the server when a client asks Metadata for them."},
	{Name: "delete.topic.enable", Type: tBool, Default: "true", Validate: isBool, ReadOnly: true, Doc: "Enables topic deletion."},
	{Name: "message.max.bytes", Type: tInt, Default: "1048588", Validate: intRange(0, maxInt), Doc: "The largest record batch size allowed; the default of topics' max.message.bytes."},
	{Name: "log.segment.bytes", Type: tInt, Default: "1073741824", Validate: intRange(14, maxInt), Doc: "The maximum size of a single log file."},
	{Name: "log.roll.ms", Type: tLong, Nullable: true, Validate: intRange(1, maxLong), Doc: "The maximum time before a new log segment is rolled out (in milliseconds). If not set, log.roll.hours is used."},
	{Name: "log.roll.hours", Type: tInt, Default: "168", Validate: intRange(1, maxInt), Doc: "The maximum time before a new log segment is rolled out (in hours)."},
	{Name: "log.retention.ms", Type: tLong, Nullable: true, Validate: intRange(-1, maxLong), Doc: "The number of milliseconds to keep a log file before deleting it. If not set, log.retention.minutes is used. -1: no time limit."},
	{Name: "log.retention.minutes", Type: tInt, Nullable: true, Validate: intRange(-1, maxInt), Doc: "The number of minutes to keep a log file before deleting it. If not set, log.retention.hours is used."},
	{Name: "log.retention.hours", Type: tInt, Default: "168", Validate: intRange(-1, maxInt), Doc: "The number of hours to keep a log file before deleting it."},
	{Name: "log.retention.bytes", Type: tLong, Default: "-1", Validate: intRange(-1, maxLong), Doc: "The maximum size of a partition's log before deleting it. -1: no size limit."},
	{Name: "log.retention.check.interval.ms", Type: tLong, Default: "300000", Validate: intRange(1, maxLong), ReadOnly: true, Doc: "How often the log cleaner checks whether any log is eligible for deletion."},
	{Name: "log.cleanup.policy", Type: tList, Default: "delete", Validate: listOf("delete", "compact"), Doc: "The default cleanup policy for segments beyond the retention window: delete, compact or both."},
	{Name: "log.cleaner.delete.retention.ms", Type: tLong, Default: "86400000", Validate: intRange(0, maxLong), Doc: "How long delete records (tombstones) are retained in compacted topics."},
	{Name: "log.cleaner.min.cleanable.ratio", Type: tDouble, Default: "0.5", Validate: floatRange(0, 1), Doc: "The minimum ratio of dirty log to total log for a log to be eligible for cleaning."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: tLong, Default: "0", Validate: intRange(0, maxLong), Doc: "The minimum time a message will remain uncompacted in the log."},
	{Name: "log.cleaner.backoff.ms", Type: tLong, Default: "15000", Validate: intRange(0, maxLong), ReadOnly: true, Doc: "The amount of time to sleep when there are no logs to clean."},
	{Name: "log.flush.interval.messages", Type: tLong, Default: maxLongS, Validate: intRange(1, maxLong), Doc: "The number of messages accumulated on a log partition before messages are fsynced."},
	{Name: "log.flush.interval.ms", Type: tLong, Nullable: true, Validate: intRange(0, maxLong), Doc: "The maximum time a message stays in memory before being fsynced. If not set, never forced by time."},
	{Name: "log.index.interval.bytes", Type: tInt, Default: "4096", Validate: intRange(0, maxInt), Doc: "The interval with which an entry is added to the offset index."},
	{Name: "log.message.timestamp.type", Type: tString, Default: "CreateTime", Validate: oneOf("CreateTime", "LogAppendTime"), Doc: "Whether the timestamp in the message is the create time or the log append time."},
	{Name: "compression.type", Type: tString, Default: "producer", Validate: oneOf(compressionValues...), Doc: "The final compression type of topics; 'producer' keeps the producer's codec."},
	{Name: "min.insync.replicas", Type: tInt, Default: "1", Validate: intRange(1, maxInt), Doc: "The minimum number of in-sync replicas that must acknowledge a write with acks=all."},
	{Name: "replica.lag.time.max.ms", Type: tLong, Default: "30000", Validate: intRange(1, maxLong), ReadOnly: true, Doc: "A follower that has not caught up to the leader's log end for this long is removed from the ISR."},
	{Name: "unclean.leader.election.enable", Type: tBool, Default: "false", Validate: isBool, Doc: "Whether replicas not in the ISR may be elected leader as a last resort."},
	{Name: "auto.leader.rebalance.enable", Type: tBool, Default: "true", Validate: isBool, ReadOnly: true, Doc: "The active controller moves leadership back to preferred replicas (the first of each partition's replicas) when a broker's share of preferred partitions it does not lead is above leader.imbalance.per.broker.percentage."},
	{Name: "leader.imbalance.check.interval.seconds", Type: tLong, Default: "300", Validate: intRange(1, maxLong), ReadOnly: true, Doc: "How often the active controller checks the leader imbalance."},
	{Name: "leader.imbalance.per.broker.percentage", Type: tInt, Default: "10", Validate: intRange(0, 100), ReadOnly: true, Doc: "The share (percent) of its preferred partitions a broker may not lead before the automatic preferred leader election moves them back."},
	{Name: "leader.replication.throttled.rate", Type: tLong, Default: maxLongS, Validate: intRange(1, maxLong), Doc: "Bytes per second a leader sends to replicas that are out of sync while their partition is being reassigned."},
	{Name: "follower.replication.throttled.rate", Type: tLong, Default: maxLongS, Validate: intRange(1, maxLong), Doc: "Bytes per second a follower fetches for partitions being reassigned to it while it is out of sync (Sluice: enforced by the leader, together with leader.replication.throttled.rate)."},
	{Name: "replica.selector.class", Type: tString, Nullable: true, ReadOnly: true, Validate: oneOf("org.apache.kafka.common.replica.RackAwareReplicaSelector", "RackAwareReplicaSelector"), Doc: "RackAwareReplicaSelector lets consumers that set client.rack fetch from an in-sync replica in their rack (KIP-392); unset: from the leader."},
	{Name: "offsets.topic.num.partitions", Type: tInt, Default: "50", Validate: intRange(1, maxInt), ReadOnly: true, Doc: "The number of partitions of the offset commit topic (__consumer_offsets)."},
	{Name: "offsets.topic.replication.factor", Type: tInt, Default: "3", Validate: intRange(1, 32767), ReadOnly: true, Doc: "The replication factor of the offsets topic (capped at the number of live brokers)."},
	{Name: "offsets.topic.segment.bytes", Type: tInt, Default: "104857600", Validate: intRange(1, maxInt), ReadOnly: true, Doc: "The offsets topic segment bytes."},
	{Name: "offsets.retention.minutes", Type: tInt, Default: "10080", Validate: intRange(1, maxInt), Doc: "Committed offsets of a group that became empty are kept this long."},
	{Name: "offsets.retention.check.interval.ms", Type: tInt, Default: "600000", Validate: intRange(1, maxInt), ReadOnly: true, Doc: "How often the coordinator looks for expired committed offsets."},
	{Name: "offset.metadata.max.bytes", Type: tInt, Default: "4096", Validate: intRange(0, maxInt), ReadOnly: true, Doc: "The largest metadata string a client may attach to an offset commit."},
	{Name: "group.initial.rebalance.delay.ms", Type: tInt, Default: "3000", Validate: intRange(0, maxInt), ReadOnly: true, Doc: "How long the coordinator waits for more members to join a new group before the first rebalance."},
	{Name: "group.min.session.timeout.ms", Type: tInt, Default: "6000", Validate: intRange(0, maxInt), ReadOnly: true, Doc: "The minimum allowed session timeout for registered consumers."},
	{Name: "group.max.session.timeout.ms", Type: tInt, Default: "1800000", Validate: intRange(0, maxInt), ReadOnly: true, Doc: "The maximum allowed session timeout for registered consumers."},
	{Name: "connections.max.idle.ms", Type: tLong, Default: "600000", Validate: intRange(-1, maxLong), ReadOnly: true, Doc: "Idle connections are closed after this many milliseconds without a request; -1 never closes them."},
	{Name: "socket.request.max.bytes", Type: tInt, Default: "104857600", Validate: intRange(1, maxInt), ReadOnly: true, Doc: "The maximum number of bytes in a socket request; bigger requests close the connection."},
	{Name: "max.incremental.fetch.session.cache.slots", Type: tInt, Default: "1000", Validate: intRange(0, maxInt), ReadOnly: true, Doc: "The maximum number of incremental fetch sessions kept."},
	{Name: "transactional.id.expiration.ms", Type: tInt, Default: "604800000", Validate: intRange(1, maxInt), Doc: "How long a transactional or producer id is kept without activity."},
}

// TopicConfigSpecs are the topic configs with Kafka's names, defaults and
// the broker configs (synonyms) that set their defaults.
var TopicConfigSpecs = []ConfigSpec{
	{Name: "cleanup.policy", Type: tList, Default: "delete", Validate: listOf("delete", "compact"), Synonyms: []Synonym{{"log.cleanup.policy", 1}}, Doc: "delete: discard old segments by retention time or size; compact: keep the latest value per key; both may be given."},
	{Name: "compression.type", Type: tString, Default: "producer", Validate: oneOf(compressionValues...), Synonyms: []Synonym{{"compression.type", 1}}, Doc: "The final compression type of the topic; 'producer' keeps the producer's codec."},
	{Name: "delete.retention.ms", Type: tLong, Default: "86400000", Validate: intRange(0, maxLong), Synonyms: []Synonym{{"log.cleaner.delete.retention.ms", 1}}, Doc: "How long tombstones are kept in compacted topics."},
	{Name: "file.delete.delay.ms", Type: tLong, Default: "60000", Validate: intRange(0, maxLong), Synonyms: []Synonym{{"log.segment.delete.delay.ms", 1}}, Doc: "The time to wait before deleting a file from the filesystem."},
	{Name: "flush.messages", Type: tLong, Default: maxLongS, Validate: intRange(1, maxLong), Synonyms: []Synonym{{"log.flush.interval.messages", 1}}, Doc: "Force an fsync after this many messages."},
	{Name: "flush.ms", Type: tLong, Default: maxLongS, Validate: intRange(0, maxLong), Synonyms: []Synonym{{"log.flush.interval.ms", 1}}, Doc: "Force an fsync after this much time (ms)."},
	{Name: "index.interval.bytes", Type: tInt, Default: "4096", Validate: intRange(0, maxInt), Synonyms: []Synonym{{"log.index.interval.bytes", 1}}, Doc: "How often an offset index entry is added (bytes)."},
	{Name: "max.compaction.lag.ms", Type: tLong, Default: maxLongS, Validate: intRange(1, maxLong), Synonyms: []Synonym{{"log.cleaner.max.compaction.lag.ms", 1}}, Doc: "The maximum time a message remains ineligible for compaction."},
	{Name: "max.message.bytes", Type: tInt, Default: "1048588", Validate: intRange(0, maxInt), Synonyms: []Synonym{{"message.max.bytes", 1}}, Doc: "The largest record batch size allowed by this topic."},
	{Name: "message.timestamp.type", Type: tString, Default: "CreateTime", Validate: oneOf("CreateTime", "LogAppendTime"), Synonyms: []Synonym{{"log.message.timestamp.type", 1}}, Doc: "Whether record timestamps are the producer's create time or the log append time."},
	{Name: "min.cleanable.dirty.ratio", Type: tDouble, Default: "0.5", Validate: floatRange(0, 1), Synonyms: []Synonym{{"log.cleaner.min.cleanable.ratio", 1}}, Doc: "The minimum dirty ratio for the log to be compacted."},
	{Name: "min.compaction.lag.ms", Type: tLong, Default: "0", Validate: intRange(0, maxLong), Synonyms: []Synonym{{"log.cleaner.min.compaction.lag.ms", 1}}, Doc: "The minimum time a message remains uncompacted."},
	{Name: "min.insync.replicas", Type: tInt, Default: "1", Validate: intRange(1, maxInt), Synonyms: []Synonym{{"min.insync.replicas", 1}}, Doc: "The minimum number of in-sync replicas that must acknowledge a write with acks=all."},
	{Name: "preallocate", Type: tBool, Default: "false", Validate: isBool, Synonyms: []Synonym{{"log.preallocate", 1}}, Doc: "Whether to preallocate the file on disk when creating a segment."},
	{Name: "retention.bytes", Type: tLong, Default: "-1", Validate: intRange(-1, maxLong), Synonyms: []Synonym{{"log.retention.bytes", 1}}, Doc: "The maximum size of a partition's log before old segments are discarded; -1: no limit."},
	{Name: "retention.ms", Type: tLong, Default: "604800000", Validate: intRange(-1, maxLong), Synonyms: []Synonym{{"log.retention.ms", 1}, {"log.retention.minutes", 60000}, {"log.retention.hours", 3600000}}, Doc: "How long a log is kept before old segments are discarded; -1: no time limit."},
	{Name: "segment.bytes", Type: tInt, Default: "1073741824", Validate: intRange(14, maxInt), Synonyms: []Synonym{{"log.segment.bytes", 1}}, Doc: "The segment file size of the log."},
	{Name: "segment.index.bytes", Type: tInt, Default: "10485760", Validate: intRange(4, maxInt), Synonyms: []Synonym{{"log.index.size.max.bytes", 1}}, Doc: "The size of the index that maps offsets to file positions."},
	{Name: "segment.jitter.ms", Type: tLong, Default: "0", Validate: intRange(0, maxLong), Synonyms: []Synonym{{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", 3600000}}, Doc: "The maximum random jitter subtracted from segment.ms."},
	{Name: "segment.ms", Type: tLong, Default: "604800000", Validate: intRange(1, maxLong), Synonyms: []Synonym{{"log.roll.ms", 1}, {"log.roll.hours", 3600000}}, Doc: "The time after which a segment is rolled even if not full."},
	{Name: "unclean.leader.election.enable", Type: tBool, Default: "false", Validate: isBool, Synonyms: []Synonym{{"unclean.leader.election.enable", 1}}, Doc: "Whether replicas not in the ISR may be elected leader as a last resort."},
}

var (
	brokerSpecByName = index(BrokerConfigSpecs)
	topicSpecByName  = index(TopicConfigSpecs)
)

func index(specs []ConfigSpec) map[string]*ConfigSpec {
	m := make(map[string]*ConfigSpec, len(specs))
	for i := range specs {
		m[specs[i].Name] = &specs[i]
	}
	return m
}

// validate checks one value against a spec.
func (s *ConfigSpec) validate(v string) error {
	if s.Validate == nil {
		return nil
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%w: invalid value for %s: %v", kerr.InvalidConfig, s.Name, err)
	}
	return nil
}

// ValidateTopicConfigs checks topic config overrides by name and value.
func ValidateTopicConfigs(configs map[string]string) error {
	for k, v := range configs {
		s := topicSpecByName[k]
		if s == nil {
			return fmt.Errorf("%w: unknown topic config %q", kerr.InvalidConfig, k)
		}
		if err := s.validate(v); err != nil {
			return err
		}
	}
	return nil
}

// ValidateBrokerSettings checks broker configs (as in sluice.yaml). Unknown
// names are kept but not validated: Kafka ignores configs it does not know.
func ValidateBrokerSettings(settings map[string]string) error {
	for k, v := range settings {
		if s := brokerSpecByName[k]; s != nil {
			if err := s.validate(v); err != nil {
				return err
			}
		}
	}
	return nil
}
