package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/runtime"
)

// A worker stopped by cancelling its context (what SIGTERM does in
// `sluice connect worker`, and what the pool does to scale in) stops its
// tasks, commits the offsets of everything they delivered, and leaves both
// the Connect group and the sink's consumer group at once, without waiting
// for a session timeout.
func TestStopCommitsAndLeaves(t *testing.T) {
	kafka := startKafka(t)
	reg := prometheus.NewRegistry()
	w := startWorkerWith(t, Config{Bootstrap: []string{kafka}, Registerer: reg})
	out := filepath.Join(t.TempDir(), "out")
	gen := map[string]string{"connector.class": "DatagenConnector", "kafka.topic": "drain", "tasks.max": "2",
		"records.per.second": "3000", "iterations": "-1", "batch.size": "200",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"}
	sink := map[string]string{"connector.class": "FileStreamSink", "topics": "drain", "file": out,
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"}
	for name, cfg := range map[string]map[string]string{"gen": gen, "sink": sink} {
		if st, body := call(t, "POST", w.url+"/connectors", map[string]any{"name": name, "config": cfg}); st != 201 {
			t.Fatalf("create %s: %d %s", name, st, body)
		}
	}
	waitFor(t, "records flowing", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte{'\n'}) > 2000
	})
	// State metrics while running.
	waitFor(t, "task state metrics", func() bool {
		n, _ := testutil.GatherAndCount(reg, "sluice_connect_task_state")
		return n == 3
	})
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "sluice_connect_task_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "state" && l.GetValue() != "RUNNING" {
					t.Fatalf("task state = %v", m)
				}
			}
		}
	}
	if testutil.ToFloat64(gauge(t, reg, "sluice_connect_source_records_written_total")) == 0 ||
		testutil.ToFloat64(gauge(t, reg, "sluice_connect_sink_records_read_total")) == 0 {
		t.Fatal("written/read counters not moving")
	}

	w.stop()

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Both groups are empty right away: the worker left them.
	groups, err := adm.DescribeGroups(ctx, "connect-cluster", "connect-sink")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Sorted() {
		if len(g.Members) != 0 {
			t.Fatalf("group %s still has members %v (state %s)", g.Group, g.Members, g.State)
		}
	}

	// Sink: every line in the file is covered by the committed offsets,
	// and nothing committed is missing from the file.
	data, _ := os.ReadFile(out)
	lines := bytes.Count(data, []byte{'\n'})
	offs, err := adm.FetchOffsets(ctx, "connect-sink")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != int64(lines) {
		t.Fatalf("sink committed %d, file has %d lines", committed, lines)
	}

	// Source: each task's committed seq is the last record it delivered.
	last := map[int64]int64{}
	readAll(t, kafka, "drain", func(r *kgo.Record) {
		var v struct{ Task, Seq int64 }
		if json.Unmarshal(r.Value, &v) == nil && v.Seq >= last[v.Task] {
			last[v.Task] = v.Seq
		}
	})
	src, err := runtime.ReadOffsets(ctx, []string{kafka}, "connect-offsets", "gen")
	if err != nil {
		t.Fatal(err)
	}
	if len(src) != 2 || len(last) != 2 {
		t.Fatalf("offsets %v, topic tasks %v", src, last)
	}
	for part, off := range src {
		task, _ := strconv.ParseInt(strings.Trim(strings.TrimPrefix(part, `{"task":`), "}"), 10, 64)
		if seq := int64(off["seq"].(float64)); seq != last[task] {
			t.Fatalf("task %d committed seq %d, last delivered %d", task, seq, last[task])
		}
	}
}

// readAll reads a topic from the start to its current end.
func readAll(t *testing.T, kafka, topic string, fn func(*kgo.Record)) {
	t.Helper()
	end := topicCount(t, kafka, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var n int64
	for n < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", n, end, topic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			fn(r)
		})
	}
}
