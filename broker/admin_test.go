package broker

import (
	"errors"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCreateTopicsValidation(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := tb.admin()
	ctx := testCtx(t)
	resp, _ := adm.CreateTopic(ctx, 1, 3, nil, "rf3")
	if !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3: %v", resp.Err)
	}
	bad := "nope"
	resp, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &bad}, "badcfg")
	if !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Fatalf("bad config: %v", resp.Err)
	}
	resp, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": &bad}, "badcfg")
	if !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v", resp.Err)
	}
	resp, _ = adm.CreateTopic(ctx, 1, 1, nil, "bad/name")
	if !errors.Is(resp.Err, kerr.InvalidTopicException) {
		t.Fatalf("bad name: %v", resp.Err)
	}
	vresp, err := adm.ValidateCreateTopics(ctx, 4, 1, nil, "validated")
	if err != nil || vresp.Error() != nil {
		t.Fatal(err, vresp.Error())
	}
	if _, ok := tb.Topic("validated"); ok {
		t.Fatal("validate_only created the topic")
	}
	createTopic(t, adm, "dup", 1, nil)
	resp, _ = adm.CreateTopic(ctx, 1, 1, nil, "dup")
	if !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("dup: %v", resp.Err)
	}
	// Explicit assignment.
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "assigned", -1, -1
	for p := range int32(3) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{0}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	kr, err := req.RequestWith(ctx, tb.client())
	if err != nil || kr.Topics[0].ErrorCode != 0 || kr.Topics[0].NumPartitions != 3 || kr.Topics[0].TopicID == ([16]byte{}) {
		t.Fatalf("assigned: %v %+v", err, kr)
	}
}

func TestConfigsRoundTrip(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"log.retention.hours": "24"})
	adm := tb.admin()
	ctx := testCtx(t)
	seg := "1048576"
	createTopic(t, adm, "cfg", 1, map[string]*string{"segment.bytes": &seg})
	rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("cfg", nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(rc kadm.ResourceConfig, name string) kadm.Config {
		for _, c := range rc.Configs {
			if c.Key == name {
				return c
			}
		}
		t.Fatalf("config %s missing", name)
		return kadm.Config{}
	}
	if c := get(rc, "segment.bytes"); c.MaybeValue() != seg || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.bytes %+v", c)
	}
	// retention.ms comes from the static log.retention.hours, with synonyms.
	c := get(rc, "retention.ms")
	if c.MaybeValue() != "86400000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig || len(c.Synonyms) != 2 || c.Synonyms[0].Key != "log.retention.hours" {
		t.Fatalf("retention.ms %+v", c)
	}
	if c := get(rc, "cleanup.policy"); c.Source != kmsg.ConfigSourceDefaultConfig || c.MaybeValue() != "delete" {
		t.Fatalf("cleanup.policy %+v", c)
	}

	// Incremental alter: set one, delete another.
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("1000")},
		{Op: kadm.DeleteConfig, Name: "segment.bytes"},
	}, "cfg")
	if err != nil || ar[0].Err != nil {
		t.Fatal(err, ar)
	}
	tp, _ := tb.Topic("cfg")
	if tp.Configs["retention.ms"] != "1000" || tp.Configs["segment.bytes"] != "" {
		t.Fatalf("configs after alter: %v", tp.Configs)
	}
	if lc := tb.Log("cfg", 0).Config(); lc.RetentionMs != 1000 || lc.SegmentBytes != 1<<30 {
		t.Fatalf("log config not updated: %+v", lc)
	}
	ar, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("x")}}, "cfg")
	if !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Fatalf("invalid value accepted: %v", ar[0].Err)
	}
	// Legacy AlterConfigs replaces all overrides.
	ar, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}}, "cfg")
	if err != nil || ar[0].Err != nil {
		t.Fatal(err, ar)
	}
	tp, _ = tb.Topic("cfg")
	if len(tp.Configs) != 1 || tp.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("configs after legacy alter: %v", tp.Configs)
	}
	// Broker configs with documentation.
	brc, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	b0, _ := brc.On("0", nil)
	if c := get(b0, "log.retention.hours"); c.MaybeValue() != "24" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("log.retention.hours %+v", c)
	}
	// A dynamic broker config becomes the default of topics without an override.
	bar, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kmsg.StringPtr("7200000")}})
	if err != nil || bar[0].Err != nil {
		t.Fatal(err, bar)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "cfg")
	rc, _ = rcs.On("cfg", nil)
	if c := get(rc, "retention.ms"); c.MaybeValue() != "7200000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("retention.ms after broker alter %+v", c)
	}
	if tb.Log("cfg", 0).Config().RetentionMs != 7200000 {
		t.Fatal("dynamic broker config not pushed to the log")
	}
	bar, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "offsets.topic.num.partitions", Value: kmsg.StringPtr("3")}})
	if !errors.Is(bar[0].Err, kerr.InvalidConfig) {
		t.Fatalf("read-only broker config altered: %v", bar[0].Err)
	}
	// Survives a restart.
	tb.stop()
	tb = startBroker(t, tb.dir, map[string]string{"log.retention.hours": "24"})
	tp, _ = tb.Topic("cfg")
	if tp.Configs["cleanup.policy"] != "compact" || tb.Log("cfg", 0).Config().CleanupPolicy != "compact" {
		t.Fatalf("configs after restart: %v", tp.Configs)
	}
}

func TestCreatePartitionsDeleteRecordsDescribe(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := tb.admin()
	ctx := testCtx(t)
	createTopic(t, adm, "grow", 1, nil)
	cp, err := adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || cp.Error() != nil {
		t.Fatal(err, cp.Error())
	}
	cp, _ = adm.UpdatePartitions(ctx, 1, "grow")
	if !errors.Is(cp.Error(), kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v", cp.Error())
	}
	td, _ := adm.ListTopics(ctx, "grow")
	if len(td["grow"].Partitions) != 3 {
		t.Fatalf("partitions %d", len(td["grow"].Partitions))
	}
	cl := tb.client(kgo.DefaultProduceTopic("grow"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 2, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "grow", Partition: 2, At: 4})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil || dr.Error() != nil {
		t.Fatal(err, dr.Error())
	}
	if r, _ := dr.Lookup("grow", 2); r.LowWatermark != 4 {
		t.Fatalf("low watermark %+v", r)
	}
	lo, _ := adm.ListStartOffsets(ctx, "grow")
	if o, _ := lo.Lookup("grow", 2); o.Offset != 4 {
		t.Fatalf("start offset after delete records %+v", o)
	}
	got := consumeN(t, tb, "grow", 6)
	if got[0].Offset != 4 {
		t.Fatalf("first offset %d", got[0].Offset)
	}
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "grow", Partition: 2, At: 99})
	dr, _ = adm.DeleteRecords(ctx, os)
	if !errors.Is(dr.Error(), kerr.OffsetOutOfRange) {
		t.Fatalf("delete past HW: %v", dr.Error())
	}

	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, tb.client())
	if err != nil || dc.ClusterID != tb.ClusterID() || len(dc.Brokers) != 1 || dc.ControllerID != 0 || dc.Brokers[0].Port != int32(tb.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("describe cluster %+v %v", dc, err)
	}
	md, err := adm.BrokerMetadata(ctx)
	if err != nil || md.Cluster != tb.ClusterID() || len(md.Brokers) != 1 || md.Brokers[0].Host != "127.0.0.1" {
		t.Fatalf("metadata %+v %v", md, err)
	}
	ld, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	ld.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "grow" && p.Partition == 2 {
				size = p.Size
			}
		})
	})
	if size <= 0 {
		t.Fatalf("log dir size of grow/2 = %d", size)
	}
	oreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "grow"
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.Partition, op.CurrentLeaderEpoch, op.LeaderEpoch = 2, 0, 0
	ot.Partitions = append(ot.Partitions, op)
	oreq.Topics = append(oreq.Topics, ot)
	oresp, err := oreq.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if p := oresp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 10 {
		t.Fatalf("offset for leader epoch %+v", p)
	}
}
