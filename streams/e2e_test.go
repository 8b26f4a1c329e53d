package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startRealEngine runs an engine with the Kafka runner of package runtime
// and returns it with a function that stops it.
func startRealEngine(t *testing.T, addr string) (*Engine, func()) {
	t.Helper()
	e, err := New(Config{Bootstrap: []string{addr}, RetryBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		e.Close()
	}
	t.Cleanup(stop)
	<-e.Ready()
	return e, stop
}

const e2eJob = `name: euro
sources:
  - name: bids
    topic: e2e-bids
    value: {format: json, fields: {id: int, price: float}}
steps:
  - filter: price > 10
  - map: {id: id, eur: price * 2}
sink: {topic: e2e-out}
`

// TestTwoInstancesShareAndRebalance runs one job on two engines: both
// take part in the job's consumer group; when one stops, the other takes
// over its partitions and every record still comes out (at least once).
// A record whose expression fails goes to the dead-letter topic.
func TestTwoInstancesShareAndRebalance(t *testing.T) {
	addr := startKafka(t)
	createTopics(t, addr, "e2e-bids")
	a, _ := startRealEngine(t, addr)
	b, stopB := startRealEngine(t, addr)
	if _, err := a.Apply(context.Background(), []byte(e2eJob)); err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("e2e-bids"),
		kgo.ConsumeTopics("e2e-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	waitMembers(t, cl, "sluice-streams-euro", 2)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			v := fmt.Sprintf(`{"id":%d,"price":%d}`, i, 11+i)
			r := &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(v)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[int]bool{}
	waitAll := func(n int) {
		deadline := time.Now().Add(90 * time.Second)
		for len(seen) < n {
			if time.Now().After(deadline) {
				t.Fatalf("saw %d of %d outputs", len(seen), n)
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			fs := cl.PollFetches(pctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) {
				var v struct {
					ID  int     `json:"id"`
					Eur float64 `json:"eur"`
				}
				if err := json.Unmarshal(r.Value, &v); err != nil {
					t.Fatalf("output %q: %v", r.Value, err)
				}
				if v.Eur != float64(2*(11+v.ID)) {
					t.Fatalf("output %q: wrong eur", r.Value)
				}
				seen[v.ID] = true
			})
		}
	}
	produce(0, 40)
	waitAll(40)
	// Both instances processed records: the partitions were shared.
	for _, e := range []*Engine{a, b} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ji, _ := e.Job("euro")
			if len(ji.Steps) > 0 && ji.Steps[0].In > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %p processed nothing (a=%p): %+v", e, a, ji.Steps)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	stopB() // B leaves the group; A takes over its partitions
	produce(40, 80)
	waitAll(80)

	// A value that does not match its declared type fails at run time.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(`{"id":"x","price":"cheap"}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dlq, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("_sluice-streams-euro-dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	deadline := time.Now().Add(60 * time.Second)
	for got := 0; got == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got = dlq.PollFetches(pctx).NumRecords()
		cancel()
	}
	// And it is counted (describe, sluice_streams_dead_letters_total).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ji, _ := a.Job("euro"); ji.DeadLetters > 0 {
			break
		}
		if time.Now().After(deadline) {
			ji, _ := a.Job("euro")
			t.Fatalf("dead letter not counted: %+v", ji)
		}
	}
	// The job goes on after the bad record.
	produce(80, 81)
	waitAll(81)
}

// waitMembers waits until group is stable with n members that each own
// at least one partition.
func waitMembers(t *testing.T, cl *kgo.Client, group string, n int) {
	t.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(60 * time.Second)
	for {
		dg, err := adm.DescribeGroups(context.Background(), group)
		if err == nil {
			g := dg[group]
			owning := 0
			for _, m := range g.Members {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) > 0 {
					owning++
				}
			}
			if g.State == "Stable" && owning == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never had %d members owning partitions: %+v %v", group, n, dg, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
