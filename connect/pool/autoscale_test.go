package pool_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/pool"
	"github.com/sluicehq/sluice/internal/testenv"
)

// readTopic returns a single-partition topic's datagen records in log order.
func readTopic(t *testing.T, bootstrap, topic string) []sinkLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	var out []sinkLine
	for int64(len(out)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var l sinkLine
			if err := json.Unmarshal(r.Value, &l); err != nil {
				t.Fatalf("record %s: %v", r.Value, err)
			}
			out = append(out, l)
		})
	}
	return out
}

// A CPU-heavy source scales the pool from 1 to 3 workers; once paused, the
// pool goes back to 1. Each datagen record costs a millisecond of CPU
// (cpu.per.record.ms). Across the four scale events no
// record is lost and no task runs on two workers at once (the topic, one
// partition, shows each task's records in production order with no forward
// gap; see sequenceCheck).
func TestAutoscaleOutAndIn(t *testing.T) {
	b := testenv.StartBroker(t)
	const window = 2 * time.Second
	p := startPool(t, b.Addr, pool.Config{
		Capacity: pool.Capacity{AutoScaling: &pool.AutoScaling{MinWorkerCount: 1, MaxWorkerCount: 3, McuCount: 1,
			ScaleInPolicy:  pool.ScalePolicy{CPUUtilizationPercentage: 5},
			ScaleOutPolicy: pool.ScalePolicy{CPUUtilizationPercentage: 15}}},
		EvaluationWindow: window,
		Cooldown:         window,
		SampleInterval:   200 * time.Millisecond,
	})
	waitFor(t, "1 worker running", 90*time.Second, func() bool { return p.running() == 1 })
	// Idle, the pool stays at its minimum: let a few windows pass.
	idleUntil := time.Now().Add(3 * window)
	waitFor(t, "idle windows", 30*time.Second, func() bool { return time.Now().After(idleUntil) })
	if n := p.counter(t, "sluice_connect_pool_scale_events_total", "direction", "out"); n != 0 {
		t.Fatalf("idle pool scaled out %v times", n)
	}
	createTopic(t, b.Addr, "load")
	dir := t.TempDir()
	sinkPath := filepath.Join(dir, "load.txt")
	createConnector(t, p.url, "load", map[string]string{
		"connector.class": "DatagenConnector", "kafka.topic": "load", "tasks.max": "6",
		"records.per.second": "100", "batch.size": "20",
		"cpu.per.record.ms": "1",
		"value.converter":   "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
	})
	createConnector(t, p.url, "load-sink", map[string]string{
		"connector.class": "FileStreamSink", "topics": "load", "file": sinkPath,
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
	})
	loaded := time.Now()
	waitFor(t, "scale out to 3 workers", 3*time.Minute, func() bool {
		return p.counter(t, "sluice_connect_pool_scale_events_total", "direction", "out") == 2 && p.running() == 3
	})
	t.Logf("1 → 3 workers in %v under load", time.Since(loaded).Round(100*time.Millisecond))
	// With 3 workers the load is spread over all of them.
	waitFor(t, "datagen tasks on all 3 workers", 60*time.Second, func() bool {
		ok, ws := allRunning(t, p.url, "load", 6)
		return ok && len(ws) == 3
	})
	waitFor(t, "a CPU figure for every worker", 60*time.Second, func() bool {
		for _, w := range p.Workers() {
			if w.CPUPercent == nil {
				return false
			}
		}
		return true
	})
	for _, w := range p.Workers() {
		t.Logf("%s: %.1f%% CPU at 3 workers", w.Name, *w.CPUPercent)
	}
	if code := call(t, "PUT", p.url+"/connectors/load/pause", nil, nil); code != 202 {
		t.Fatalf("pause: %d", code)
	}
	paused := time.Now()
	waitFor(t, "scale in to 1 worker", 3*time.Minute, func() bool {
		return p.counter(t, "sluice_connect_pool_scale_events_total", "direction", "in") == 2 && p.running() == 1 && len(p.Workers()) == 1
	})
	t.Logf("3 → 1 workers in %v after the pause", time.Since(paused).Round(100*time.Millisecond))
	if n := p.counter(t, "sluice_connect_pool_scale_events_total", "direction", "out"); n != 2 {
		t.Errorf("%v scale-out events, want 2", n)
	}
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(l, "connect pool scaling") && !strings.HasPrefix(l, "[") {
			t.Log(l)
		}
	}
	if n := p.counter(t, "sluice_connect_pool_worker_restarts_total"); n != 0 {
		t.Errorf("%v worker restarts during scaling", n)
	}

	// Nothing produced is lost: every record in the topic reaches the file.
	produced := readTopic(t, b.Addr, "load")
	src := checkSequences(produced)
	if len(src.gaps) > 0 {
		t.Errorf("topic: %s", src)
	}
	t.Logf("topic: %d records; %s", len(produced), src)
	waitFor(t, "the sink to hold every produced record", 60*time.Second, func() bool {
		got := checkSequences(readSink(t, sinkPath))
		for task, n := range src.distinct {
			if got.distinct[task] < n {
				return false
			}
		}
		return len(src.distinct) == 6
	})
	sink := checkSequences(readSink(t, sinkPath))
	if len(sink.gaps) > 0 {
		t.Errorf("sink file: %s", sink)
	}
	t.Logf("sink file: %s", sink)
}
