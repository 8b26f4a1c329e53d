// Package storage is Sluice's partition log, Kafka's log layer: one directory
// per partition holding segments named by base offset with sparse offset and
// time indexes, validated appends that assign offsets in place, reads of whole
// batches by offset, timestamp lookups, recovery of a torn tail, flush policy,
// retention, compaction, idempotent-producer state and leader-epoch
// checkpoints. A Manager owns the partitions of one data directory.
//
// See docs/storage.md for the on-disk layout and the durability guarantees.
package storage

import (
	"log/slog"
	"math"
	"strings"
	"time"
)

// LogConfig holds the per-topic settings of a partition log, with Kafka's
// names and defaults.
type LogConfig struct {
	SegmentBytes           int64   // segment.bytes, default 1073741824
	SegmentMs              int64   // segment.ms, default 604800000
	IndexIntervalBytes     int32   // index.interval.bytes, default 4096
	RetentionMs            int64   // retention.ms, default 604800000; -1 = unlimited
	RetentionBytes         int64   // retention.bytes, default -1
	CleanupPolicy          string  // cleanup.policy: "delete" | "compact" | "compact,delete"
	DeleteRetentionMs      int64   // delete.retention.ms, default 86400000
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, default 0.5
	MinCompactionLagMs     int64   // min.compaction.lag.ms, default 0
	MaxMessageBytes        int32   // max.message.bytes, default 1048588 (largest batch accepted)
	MessageTimestampType   string  // message.timestamp.type: "CreateTime" | "LogAppendTime"
	FlushMessages          int64   // flush.messages, default math.MaxInt64 (never forced)
	FlushMs                int64   // flush.ms, default math.MaxInt64
}

// DefaultLogConfig returns Kafka's defaults.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 3600 * 1000,
		IndexIntervalBytes:     4096,
		RetentionMs:            7 * 24 * 3600 * 1000,
		RetentionBytes:         -1,
		CleanupPolicy:          "delete",
		DeleteRetentionMs:      24 * 3600 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxMessageBytes:        1048588,
		MessageTimestampType:   "CreateTime",
		FlushMessages:          math.MaxInt64,
		FlushMs:                math.MaxInt64,
	}
}

func (c LogConfig) compact() bool { return strings.Contains(c.CleanupPolicy, "compact") }

func (c LogConfig) delete() bool {
	return c.CleanupPolicy == "" || strings.Contains(c.CleanupPolicy, "delete")
}

func (c LogConfig) logAppendTime() bool {
	return strings.EqualFold(c.MessageTimestampType, "LogAppendTime")
}

// normalized fills zero values that Kafka does not allow with defaults.
// Fields where zero means something (retention, ratios, index interval)
// are taken as given: start from DefaultLogConfig.
func (c LogConfig) normalized() LogConfig {
	d := DefaultLogConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentBytes > math.MaxInt32 {
		c.SegmentBytes = math.MaxInt32 // index positions are 32-bit, as in Kafka
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.CleanupPolicy == "" {
		c.CleanupPolicy = d.CleanupPolicy
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.MessageTimestampType == "" {
		c.MessageTimestampType = d.MessageTimestampType
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	return c
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Dir                    string
	Logger                 *slog.Logger
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms, default 5m
	CleanerBackoff         time.Duration // log.cleaner.backoff.ms, default 15s
	ProducerIDExpiration   time.Duration // producer.id.expiration.ms, default 24h
	Now                    func() time.Time
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}
