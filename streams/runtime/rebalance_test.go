package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRunnerUnknownTopic(t *testing.T) {
	addr := startKafka(t)
	p := compileJob(t, `name: nowhere
sources: [{name: s, topic: no-such-topic}]
sink: {topic: out}
`)
	err := Run(context.Background(), RunnerConfig{Bootstrap: []string{addr}, Plan: p})
	if !errors.Is(err, ErrUnknownTopic) || !strings.HasPrefix(err.Error(), `2:11: sources: "s" reads an unknown topic "no-such-topic"`) {
		t.Fatalf("err = %v, want ErrUnknownTopic at 2:11", err)
	}
}

// groupMembers waits until the job's group is stable with n members and
// returns how many partitions each holds.
func groupMembers(t *testing.T, cl *kgo.Client, group string, n int) []int {
	t.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs, err := adm.DescribeGroups(context.Background(), group)
		if err == nil {
			g := gs[group]
			if g.State == "Stable" && len(g.Members) == n {
				var counts []int
				total := 0
				for _, m := range g.Members {
					a, _ := m.Assigned.AsConsumer()
					c := 0
					if a != nil {
						for _, tp := range a.Topics {
							c += len(tp.Partitions)
						}
					}
					counts = append(counts, c)
					total += c
				}
				if total == 4 {
					return counts
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never became stable with %d members: %+v %v", group, n, gs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunnerTwoInstancesRebalance(t *testing.T) {
	addr := startKafka(t)
	cl := newClient(t, addr)
	createTopic(t, cl, "events", 4)
	p := compileJob(t, `name: shared
sources: [{name: s, topic: events}]
steps:
  - map: {n: n}
sink: {topic: shared-out}
`)
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			rec := &kgo.Record{Topic: "events", Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i))}
			if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := func() (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, RunnerConfig{Bootstrap: []string{addr}, Plan: p, CommitInterval: 100 * time.Millisecond})
		}()
		return cancel, done
	}
	stop := func(cancel context.CancelFunc, done chan error) {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	cancel1, done1 := start()
	defer func() {
		if cancel1 != nil {
			stop(cancel1, done1)
		}
	}()
	if c := groupMembers(t, cl, "sluice-streams-shared", 1); c[0] != 4 {
		t.Fatalf("one instance holds %v partitions, want 4", c)
	}
	produce(0, 40)
	cancel2, done2 := start()
	defer stop(cancel2, done2)
	if c := groupMembers(t, cl, "sluice-streams-shared", 2); c[0] != 2 || c[1] != 2 {
		t.Fatalf("two instances hold %v partitions, want 2 each", c)
	}
	produce(40, 80)
	stop(cancel1, done1)
	cancel1 = nil
	if c := groupMembers(t, cl, "sluice-streams-shared", 1); c[0] != 4 {
		t.Fatalf("after one left, the other holds %v partitions, want 4", c)
	}
	produce(80, 120)
	// At least once: every input appears in the output, possibly twice.
	seen := map[string]bool{}
	out := newClient(t, addr, kgo.ConsumeTopics("shared-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(seen) < 120 {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("saw %d of 120 distinct outputs", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := range 120 {
		if !seen[fmt.Sprintf(`{"n":%d}`, i)] {
			t.Fatalf("output for n=%d missing", i)
		}
	}
}
