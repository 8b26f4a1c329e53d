package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// An instance stops abruptly mid-run (no final snapshot, flush or commit,
// as after kill -9); a second instance restores the tasks from the
// changelog, and the final aggregates equal those of an undisturbed run.
func TestRunnerCrashRestoresFromChangelog(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	createTopic(t, cl, "views", 2)
	p := compileJob(t, `name: views
sources: [{name: v, topic: views}]
steps:
  - window: {type: tumbling, size: 10s}
  - aggregate: {fields: {n: count, total: {fn: sum, of: ms}}}
  - emit: final
sink: {topic: view-counts}
`)
	type win struct {
		key   string
		start int
	}
	want := map[win]int{}
	produce := func(from, to int64) {
		t.Helper()
		var recs []*kgo.Record
		for ts := from; ts < to; ts += 500 {
			for k := range 4 {
				key := fmt.Sprint("k", k)
				recs = append(recs, &kgo.Record{Topic: "views", Key: []byte(key), Value: []byte(`{"ms": 1}`), Timestamp: time.UnixMilli(ts)})
				if ts < 100000 {
					want[win{key, int(ts / 10000 * 10000)}]++
				}
			}
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	run := func(crash bool) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: p, CommitInterval: 20 * time.Millisecond, crash: crash})
		}()
		return cancel, done
	}

	t0 := time.Now()
	produce(0, 14000)
	cancelA, doneA := run(true)
	// Wait until A has written state to the changelog.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// A fresh client each time: a client that saw the topic missing
		// caches that for its metadata min age.
		probe := newClient(t, addr)
		ends, err := kadm.NewClient(probe).ListEndOffsets(context.Background(), ChangelogTopic("views", 1))
		n := int64(0)
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		}
		// And until A has committed all of batch 1, so that B, were it not
		// to restore state, would miss those records' counts.
		committed := int64(0)
		if offs, err := kadm.NewClient(probe).FetchOffsets(context.Background(), "sluice-streams-views"); err == nil {
			offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
		}
		probe.Close()
		if n >= 2 && committed == 4*28 {
			break
		}
		if time.Now().After(deadline) {
			select {
			case err := <-doneA:
				t.Fatalf("no state written; run: %v", err)
			default:
			}
			t.Fatal("no state written")
		}
	}
	t.Logf("state seen after %v", time.Since(t0))
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	produce(14000, 19500) // windows [10000,20000) span the crash
	produce(100000, 100001)
	cancelB, doneB := run(false)
	defer func() {
		cancelB()
		if err := <-doneB; err != nil {
			t.Error(err)
		}
	}()

	t.Logf("B started after %v", time.Since(t0))
	got := map[win]int{}
	out := newClient(t, addr, kgo.ConsumeTopics("view-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < len(want) {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("saw %d of %d windows: %v", len(got), len(want), got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var v struct{ N, Total, WindowStart int }
			var raw map[string]int
			if err := json.Unmarshal(r.Value, &raw); err != nil {
				t.Fatal(err)
			}
			v.N, v.WindowStart = raw["n"], raw["window_start"]
			w := win{string(r.Key), v.WindowStart}
			if prev, ok := got[w]; ok && prev != v.N {
				t.Fatalf("window %v emitted %d then %d", w, prev, v.N)
			}
			if raw["total"] != v.N {
				t.Fatalf("window %v: total %d != n %d", w, raw["total"], v.N)
			}
			got[w] = v.N
		})
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("window %v: count %d, want %d", w, got[w], n)
		}
	}
}
