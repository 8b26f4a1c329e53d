package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/record"
	"github.com/sluicehq/sluice/broker/storage"
)

// offsetsTopic is the compacted internal topic of the group coordinator.
const offsetsTopic = "__consumer_offsets"

// EnsureOffsetsTopic creates __consumer_offsets (offsets.topic.num.partitions
// partitions, compacted) if it does not exist yet.
func (b *Broker) EnsureOffsetsTopic(ctx context.Context) error {
	if _, ok := b.Topic(offsetsTopic); ok {
		return nil
	}
	cfgs := map[string]*string{}
	for k, v := range group.OffsetsTopicConfigs() {
		cfgs[k] = &v
	}
	seg := b.setting("offsets.topic.segment.bytes")
	cfgs["segment.bytes"] = &seg
	_, err := b.CreateTopic(ctx, kafka.CreateTopic{
		Name:              offsetsTopic,
		Partitions:        int32(b.brokerInt("offsets.topic.num.partitions")),
		ReplicationFactor: int16(min(b.brokerInt("offsets.topic.replication.factor"), int64(max(len(b.Brokers()), 1)))), // capped at the live brokers as Kafka does
		Configs:           cfgs,
	})
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

// InternalAppend appends one or more record batches to a partition of an
// internal topic and returns once they are written and committed (the high
// watermark covers them).
func (b *Broker) InternalAppend(ctx context.Context, topic string, partition int32, batches []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := b.Append(ctx, topic, partition, batches, -1)
	return err
}

// InternalReplay calls fn for every record of a partition below its high
// watermark, in offset order (value nil for tombstones). fn must not keep
// the slices. Control batches are skipped.
func (b *Broker) InternalReplay(ctx context.Context, topic string, partition int32, fn func(key, value []byte) error) error {
	return b.replay(ctx, topic, partition, (*storage.Log).HighWatermark, fn)
}

// replay is InternalReplay up to end(log) rather than the high watermark.
func (b *Broker) replay(ctx context.Context, topic string, partition int32, end func(*storage.Log) int64, fn func(key, value []byte) error) error {
	l := b.Log(topic, partition)
	if l == nil {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, topic, partition)
	}
	off := l.LogStartOffset()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hw := end(l)
		if off >= hw {
			return nil
		}
		res, err := l.Read(off, storage.ReadOptions{MaxBytes: 1 << 20, MinOneBatch: true, UpTo: hw})
		if err != nil {
			if errors.Is(err, kerr.OffsetOutOfRange) && off < l.LogStartOffset() {
				off = l.LogStartOffset() // retention or compaction moved the start under us
				continue
			}
			return err
		}
		if len(res.Records) == 0 {
			return nil
		}
		batches, err := record.Split(res.Records)
		if err != nil {
			return err
		}
		for _, batch := range batches {
			h, recs, err := record.Records(batch)
			if err != nil {
				return err
			}
			off = h.LastOffset() + 1
			if h.IsControl() {
				continue
			}
			for _, r := range recs {
				if err := fn(r.Key, r.Value); err != nil {
					return err
				}
			}
		}
	}
}

// OffsetsStore is the group coordinator's Store over __consumer_offsets.
func (b *Broker) OffsetsStore() group.Store { return offsetsStore{b} }

type offsetsStore struct{ b *Broker }

func (s offsetsStore) Append(ctx context.Context, partition int32, kvs []group.KV) error {
	if len(kvs) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	recs := make([]record.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: kv.Key, Value: kv.Value}
	}
	h := record.Header{FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	batch, err := record.Encode(h, recs, codec.None)
	if err != nil {
		return err
	}
	return s.b.InternalAppend(ctx, offsetsTopic, partition, batch)
}

// Replay reads the partition to its log end, not its high watermark: a new
// leader's log holds every acknowledged commit, but its high watermark
// catches up only as the followers fetch again.
func (s offsetsStore) Replay(ctx context.Context, partition int32, fn func(key, value []byte) error) error {
	return s.b.replay(ctx, offsetsTopic, partition, (*storage.Log).LogEndOffset, fn)
}

// logCollector reports partition counts and log sizes at scrape time.
type logCollector struct{ b *Broker }

var (
	partitionsDesc = prometheus.NewDesc("sluice_broker_partitions", "Partitions this broker leads.", nil, nil)
	logSizeDesc    = prometheus.NewDesc("sluice_broker_log_size_bytes", "Bytes on disk of a partition's log.", []string{"topic", "partition"}, nil)
)

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- partitionsDesc
	ch <- logSizeDesc
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	c.b.mu.RLock()
	parts := make(map[storage.TopicPartition]*storage.Log, len(c.b.parts))
	for tp, p := range c.b.parts {
		parts[tp] = p.log
	}
	c.b.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(partitionsDesc, prometheus.GaugeValue, float64(len(parts)))
	for tp, l := range parts {
		ch <- prometheus.MustNewConstMetric(logSizeDesc, prometheus.GaugeValue, float64(l.Size()), tp.Topic, strconv.Itoa(int(tp.Partition)))
	}
}
