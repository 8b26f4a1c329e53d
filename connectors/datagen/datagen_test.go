package datagen

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type offsets map[string]any

// offsets is a task context outside a worker: no Kafka.
func (offsets) Bootstrap() []string   { return nil }
func (offsets) Producer() *kgo.Client { return nil }

func (o offsets) Offset(map[string]any) map[string]any {
	if o == nil {
		return nil
	}
	return o
}

func TestGeneratesAndResumes(t *testing.T) {
	c := &connector{}
	if err := c.Start(map[string]string{"kafka.topic": "t", "records.per.second": "100000", "iterations": "50"}); err != nil {
		t.Fatal(err)
	}
	tcs, _ := c.TaskConfigs(3)
	if len(tcs) != 3 || tcs[2]["task.index"] != "2" {
		t.Fatalf("task configs = %v", tcs)
	}
	tk := &task{}
	if err := tk.Start(offsets{"seq": float64(9)}, tcs[1]); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for len(got) < 40 {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r.SourceOffset["seq"].(int64))
			if r.Key != r.Value.(map[string]any)["id"] {
				t.Fatal("key is not the id")
			}
		}
	}
	if got[0] != 10 || got[len(got)-1] != 49 || len(got) != 40 {
		t.Fatalf("seqs %d..%d (%d)", got[0], got[len(got)-1], len(got))
	}
	// Done: polls return nothing (and return when the context ends).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if recs, err := tk.Poll(ctx); len(recs) != 0 || err != nil {
		t.Fatalf("after iterations: %v %v", recs, err)
	}
	if err := c.Start(map[string]string{}); err == nil {
		t.Fatal("missing kafka.topic accepted")
	}
}

// cpu.per.record.ms makes each generated record cost that much CPU time of
// the polling thread, so a worker's load follows the record rate.
func TestCPUCostPerRecord(t *testing.T) {
	c := &connector{}
	tk := c.NewTask()
	cfg := map[string]string{"kafka.topic": "t", "records.per.second": "1000", "batch.size": "5", "cpu.per.record.ms": "20", "task.index": "0"}
	if err := tk.Start(offsets(nil), cfg); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var recs int
	before := threadCPU()
	for recs < 5 {
		rs, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		recs += len(rs)
	}
	// The burn runs on this (locked) thread, so its CPU time covers it.
	if used := threadCPU() - before; used < time.Duration(recs)*20*time.Millisecond {
		t.Fatalf("%d records used %v of CPU, want at least %v", recs, used, time.Duration(recs)*20*time.Millisecond)
	}
}
