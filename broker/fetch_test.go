package broker

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func fetchReq(topic string, id [16]byte, offset int64, maxWait, minBytes int32, sessionID, epoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, minBytes, 1<<20
	req.SessionID, req.SessionEpoch = sessionID, epoch
	if topic != "" || id != ([16]byte{}) {
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = topic, id
		p := kmsg.NewFetchRequestTopicPartition()
		p.FetchOffset, p.PartitionMaxBytes, p.CurrentLeaderEpoch = offset, 1<<20, -1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}
	return req
}

// A long-polling Fetch is woken by an append: with max.wait.ms far beyond the
// test's own timeout, the response can only carry records if the append
// woke it.
func TestFetchLongPollWokenByAppend(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb.admin(), "poll", 1, nil)
	tp, _ := tb.Topic("poll")
	cl := tb.client()
	type result struct {
		resp *kmsg.FetchResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req := fetchReq("", tp.ID, 0, 600_000, 1, 0, -1)
		resp, err := req.RequestWith(testCtx(t), cl)
		done <- result{resp, err}
	}()
	// Produce after the fetch is parked (it parks immediately; if it has not
	// yet, it simply finds the records on its first read).
	pcl := tb.client(kgo.DefaultProduceTopic("poll"))
	if err := pcl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	p := r.resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != 1 || !bytes.Contains(p.RecordBatches, []byte("wake")) {
		t.Fatalf("fetch response %+v", p)
	}
}

// KIP-227: a full fetch opens a session; an incremental one with nothing new
// lists no partitions; a wrong epoch or unknown session is refused.
func TestFetchSessions(t *testing.T) {
	tb := startBroker(t, "", nil)
	createTopic(t, tb.admin(), "sess", 1, nil)
	cl := tb.client(kgo.MaxVersions(kversionsPinned(kmsg.Fetch, 12)))
	ctx := testCtx(t)
	pcl := tb.client(kgo.DefaultProduceTopic("sess"))
	if err := pcl.ProduceSync(ctx, &kgo.Record{Value: []byte("one")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	req := fetchReq("sess", [16]byte{}, 0, 0, 0, 0, 0)
	req.Version = 12
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || resp.SessionID == 0 || len(resp.Topics) != 1 {
		t.Fatalf("full fetch: %v %+v", err, resp)
	}
	sid := resp.SessionID
	// Incremental, offset moved to the end: the partition is listed to update
	// the offset and has news (nothing); then nothing changes.
	req = fetchReq("sess", [16]byte{}, 1, 0, 0, sid, 1)
	req.Version = 12
	if resp, err = req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("incremental 1: %v %+v", err, resp)
	}
	req = fetchReq("", [16]byte{}, 0, 0, 0, sid, 2)
	req.Version = 12
	if resp, err = req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("incremental, nothing new: %v %+v", err, resp)
	}
	// A new record: the partition comes back with it.
	if err := pcl.ProduceSync(ctx, &kgo.Record{Value: []byte("two")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	req = fetchReq("", [16]byte{}, 0, 0, 0, sid, 3)
	req.Version = 12
	if resp, err = req.RequestWith(ctx, cl); err != nil || len(resp.Topics) != 1 || !bytes.Contains(resp.Topics[0].Partitions[0].RecordBatches, []byte("two")) {
		t.Fatalf("incremental with news: %v %+v", err, resp)
	}
	req = fetchReq("", [16]byte{}, 0, 0, 0, sid, 9)
	req.Version = 12
	if resp, _ = req.RequestWith(ctx, cl); !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.InvalidFetchSessionEpoch) {
		t.Fatalf("wrong epoch: %+v", resp)
	}
	req = fetchReq("", [16]byte{}, 0, 0, 0, sid+1, 1)
	req.Version = 12
	if resp, _ = req.RequestWith(ctx, cl); !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.FetchSessionIDNotFound) {
		t.Fatalf("unknown session: %+v", resp)
	}
}

func TestProduceErrors(t *testing.T) {
	tb := startBroker(t, "", nil)
	small := "1000"
	createTopic(t, tb.admin(), "small", 1, map[string]*string{"max.message.bytes": &small})
	cl := tb.client(kgo.DefaultProduceTopic("small"), kgo.RecordRetries(0))
	big := make([]byte, 5000)
	rand.Read(big) // incompressible
	err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("oversized batch: %v", err)
	}
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("fits")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Unknown topic, with auto creation off.
	tb2 := startBroker(t, "", map[string]string{"auto.create.topics.enable": "false"})
	cl2 := tb2.client(kgo.DefaultProduceTopic("nope"), kgo.RecordRetries(2), kgo.UnknownTopicRetries(1))
	if err := cl2.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, ok := tb2.Topic("nope"); ok {
		t.Fatal("topic auto-created although disabled")
	}
}
