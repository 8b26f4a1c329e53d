package s3sink

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

func TestPartitioners(t *testing.T) {
	base := map[string]string{"s3.bucket.name": "b", "flush.size": "1", "format.class": "JsonFormat"}
	with := func(kv ...string) *partitioner {
		cfg := map[string]string{}
		for k, v := range base {
			cfg[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			cfg[kv[i]] = kv[i+1]
		}
		s, err := parseSettings(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return newPartitioner(s)
	}
	ts := time.Date(2026, 11, 23, 0, 30, 5, 0, time.UTC)
	schema := &plugin.Schema{Type: plugin.StructT, Fields: []plugin.Field{{Name: "region", Schema: &plugin.Schema{Type: plugin.String}},
		{Name: "n", Schema: &plugin.Schema{Type: plugin.Int64}}}}
	rec := &plugin.SinkRecord{Partition: 4, Timestamp: ts, Value: plugin.NewStruct(schema).Put("region", "eu").Put("n", int64(7))}
	cases := []struct {
		p    *partitioner
		want string
	}{
		{with(), "partition=4"},
		{with("partitioner.class", "FieldPartitioner", "partition.field.name", "region,n"), "region=eu/n=7"},
		{with("partitioner.class", "HourlyPartitioner", "timezone", "UTC", "timestamp.extractor", "Record"), "year=2026/month=11/day=23/hour=00"},
		// 00:30 UTC is 01:30 in Paris: the hour bucket is local.
		{with("partitioner.class", "HourlyPartitioner", "timezone", "Europe/Paris", "timestamp.extractor", "Record"), "year=2026/month=11/day=23/hour=01"},
		{with("partitioner.class", "TimeBasedPartitioner", "timezone", "UTC", "timestamp.extractor", "Record",
			"path.format", "'dt'=YYYY-MM-dd/'m'=mm", "partition.duration.ms", "900000"), "dt=2026-11-23/m=30"},
		{with("partitioner.class", "DailyPartitioner", "timezone", "America/New_York", "timestamp.extractor", "Record"), "year=2026/month=11/day=22"},
	}
	for _, c := range cases {
		tsMs, err := c.p.timestamp(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.p.encode(rec, tsMs)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q %v, want %q", c.p.s.partitioner, got, err, c.want)
		}
	}
	if _, err := parseSettings(map[string]string{"s3.bucket.name": "b", "flush.size": "1", "format.class": "JsonFormat",
		"partitioner.class": "HourlyPartitioner"}); err == nil {
		t.Error("time-based partitioner without timezone accepted")
	}
}
