package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceConsumeCodecsAndAcks(t *testing.T) {
	tb := startBroker(t, "", nil)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	acks := map[string]kgo.Acks{"0": kgo.NoAck(), "1": kgo.LeaderAck(), "all": kgo.AllISRAcks()}
	for cname, c := range codecs {
		for aname, a := range acks {
			t.Run(cname+"/acks="+aname, func(t *testing.T) {
				topic := "codec-" + cname + "-" + aname
				createTopic(t, tb.admin(), topic, 3, nil)
				opts := []kgo.Opt{kgo.ProducerBatchCompression(c), kgo.RequiredAcks(a), kgo.DefaultProduceTopic(topic)}
				if aname != "all" {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				cl := tb.client(opts...)
				const n = 300
				var recs []*kgo.Record
				for i := range n {
					recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: fmt.Appendf(nil, "value-%d-%s", i, cname)})
				}
				if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
				got := consumeN(t, tb, topic, n)
				if len(got) != n {
					t.Fatalf("got %d records, want %d", len(got), n)
				}
				seen := map[string]bool{}
				for _, r := range got {
					seen[string(r.Value)] = true
				}
				for i := range n {
					if v := fmt.Sprintf("value-%d-%s", i, cname); !seen[v] {
						t.Fatalf("missing %s", v)
					}
				}
			})
		}
	}
}

func TestManyPartitionsOrder(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"num.partitions": "16"})
	// Auto-created through Metadata with num.partitions.
	cl := tb.client(kgo.DefaultProduceTopic("many"), kgo.AllowAutoTopicCreation())
	const n = 2000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 500)), Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeN(t, tb, "many", n)
	parts := map[int32]bool{}
	last := map[string]int{}
	for _, r := range got {
		parts[r.Partition] = true
		var v int
		fmt.Sscan(string(r.Value), &v)
		if prev, ok := last[string(r.Key)]; ok && v <= prev {
			t.Fatalf("key %s: %d after %d", r.Key, v, prev)
		}
		last[string(r.Key)] = v
	}
	if len(parts) != 16 {
		t.Fatalf("records in %d partitions, want 16", len(parts))
	}
	td, err := tb.admin().ListTopics(testCtx(t), "many")
	if err != nil || len(td["many"].Partitions) != 16 {
		t.Fatalf("describe: %v %v", td, err)
	}
}

func TestListOffsetsByTimestamp(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := tb.admin()
	createTopic(t, adm, "ts", 1, nil)
	cl := tb.client(kgo.DefaultProduceTopic("ts"))
	base := int64(1_700_000_000_000)
	for i := range 10 {
		r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: timeMs(base + int64(i)*1000)}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testCtx(t)
	check := func(name string, lo kadm.ListedOffsets, err error, want int64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		o, ok := lo.Lookup("ts", 0)
		if !ok || o.Err != nil || o.Offset != want {
			t.Fatalf("%s: %+v, want offset %d", name, o, want)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, "ts")
	check("start", lo, err, 0)
	lo, err = adm.ListEndOffsets(ctx, "ts")
	check("end", lo, err, 10)
	lo, err = adm.ListOffsetsAfterMilli(ctx, base+3500, "ts")
	check("after 3.5s", lo, err, 4)
	lo, err = adm.ListOffsetsAfterMilli(ctx, base+3000, "ts")
	check("at 3s", lo, err, 3)
	lo, err = adm.ListMaxTimestampOffsets(ctx, "ts")
	check("max timestamp", lo, err, 9)
}

func TestTopicDeletedAndCreatedAgain(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := tb.admin()
	createTopic(t, adm, "again", 2, nil)
	cl := tb.client(kgo.DefaultProduceTopic("again"))
	for i := range 5 {
		if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte(fmt.Sprint("old", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := tb.Topic("again")
	resp, err := adm.DeleteTopics(testCtx(t), "again")
	if err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	if _, ok := tb.Topic("again"); ok {
		t.Fatal("topic still exists")
	}
	createTopic(t, adm, "again", 1, nil)
	nt, _ := tb.Topic("again")
	if nt.ID == old.ID {
		t.Fatal("recreated topic kept its id")
	}
	cl2 := tb.client(kgo.DefaultProduceTopic("again"))
	if err := cl2.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeN(t, tb, "again", 1)
	if len(got) != 1 || string(got[0].Value) != "new" || got[0].Offset != 0 {
		t.Fatalf("got %+v", got)
	}
	// Delete by id.
	dresp, err := tb.client().Request(testCtx(t), deleteByID(nt.ID))
	if err != nil {
		t.Fatal(err)
	}
	_ = dresp
	if _, ok := tb.Topic("again"); ok {
		t.Fatal("delete by id left the topic")
	}
}
