package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/storage"
)

// Three brokers in three zones, RF=3, min.insync.replicas=2: an idempotent
// acks=all producer keeps writing while the leader of the partition stops;
// every acknowledged record is there once, in order, read from the new
// leader, and the followers hold the same log.
func TestReplicationSurvivesLeaderLoss(t *testing.T) {
	c := startCluster(t, 3, 3, map[string]string{"replica.lag.time.max.ms": "2000", "min.insync.replicas": "2"})
	ctx := testCtx(t)
	adm := c.admin()
	waitFor(ctx, t, "three brokers", func() bool {
		md, err := adm.Metadata(ctx)
		return err == nil && len(md.Brokers) == 3
	})
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "rep"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic("rep"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var acked []string
	produce := func(n int, tag string) {
		t.Helper()
		for i := range n {
			v := fmt.Sprintf("%s-%d", tag, i)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			acked = append(acked, v)
		}
	}
	produce(200, "before")

	md, err := adm.Metadata(ctx, "rep")
	if err != nil {
		t.Fatal(err)
	}
	leader := md.Topics["rep"].Partitions[0].Leader
	// Every replica has what was acknowledged.
	for id, b := range c.brokers {
		b.mu.RLock()
		pt := b.parts[tpOf("rep", 0)]
		b.mu.RUnlock()
		if pt == nil {
			t.Fatalf("broker %d has no replica", id)
		}
		waitFor(ctx, t, fmt.Sprintf("broker %d to replicate", id), func() bool { return pt.log.LogEndOffset() >= 200 })
	}
	c.brokers[leader].stop()
	delete(c.brokers, leader)
	produce(200, "after")

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []string
	for len(got) < len(acked) {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d", len(got), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := range acked {
		if got[i] != acked[i] {
			t.Fatalf("record %d: %q, want %q", i, got[i], acked[i])
		}
	}
	if len(got) != len(acked) {
		t.Fatalf("%d records, %d acknowledged", len(got), len(acked))
	}
}

// acks=all is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller
// than min.insync.replicas (NOT_ENOUGH_REPLICAS_AFTER_APPEND when it shrank
// while the write waited).
func TestNotEnoughReplicas(t *testing.T) {
	c := startCluster(t, 3, 3, map[string]string{"replica.lag.time.max.ms": "1000"})
	ctx := testCtx(t)
	adm := c.admin()
	waitFor(ctx, t, "three brokers", func() bool {
		md, err := adm.Metadata(ctx)
		return err == nil && len(md.Brokers) == 3
	})
	three := "3"
	if resp, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &three}, "few"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	// The leader is read from the brokers' own metadata once every broker
	// has the topic: a Metadata answer from a broker that has not applied
	// the creation yet has no partitions, and its zero leader (broker 0)
	// sent every produce below to a broker that does not lead.
	var leader int32 = -1
	waitFor(ctx, t, "the topic with a leader on every broker", func() bool {
		for _, b := range c.brokers {
			info, ok := b.partitionInfo("few", 0)
			if !ok || info.Leader < 0 {
				return false
			}
			leader = info.Leader
		}
		return true
	})
	// Stop a follower that is not the controller: the quorum stays, the ISR
	// shrinks to two.
	for id, b := range c.brokers {
		if id != leader && !b.quorum.IsLeader() {
			b.stop()
			delete(c.brokers, id)
			break
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MaxVersions(kversionsPinned(kmsg.Produce, 12)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var last string
	defer func() {
		if t.Failed() {
			info, _ := c.brokers[leader].partitionInfo("few", 0)
			t.Logf("last produce outcome: %s; partition at the leader: %+v", last, info)
		}
	}()
	waitFor(ctx, t, "NOT_ENOUGH_REPLICAS", func() bool {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 500
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "few"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = oneBatch(t)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := cl.Broker(int(leader)).Request(rctx, req)
		if err != nil {
			last = err.Error()
			return false
		}
		code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
		last = fmt.Sprint(kerr.ErrorForCode(code))
		return code == kerr.NotEnoughReplicas.Code || code == kerr.NotEnoughReplicasAfterAppend.Code
	})
}

func tpOf(topic string, p int32) storage.TopicPartition {
	return storage.TopicPartition{Topic: topic, Partition: p}
}

// oneBatch is a one-record batch without a producer id.
func oneBatch(t *testing.T) []byte {
	r := kmsg.Record{Value: []byte("v")}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: r.AppendTo(nil)}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
