package clustertest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// soak reports whether the long variants run (SLUICE_SOAK=1).
func soak() bool { return os.Getenv("SLUICE_SOAK") != "" }

// leaderLimit is far beyond the 10 s a new leader should take (a broker is
// fenced after 3 s here): the test reports what it measured and fails only
// on something clearly broken, not on a slow shared machine.
const leaderLimit = 30 * time.Second

// Three brokers in three zones, RF=3, min.insync.replicas=2, an idempotent
// acks=all producer on six busy partitions and a consumer group: kill -9
// the leader of busy partitions and the active controller again and again,
// and SIGSTOP/SIGCONT a leader. No acknowledged record is lost or
// duplicated, order per partition holds, a new leader serves after each
// fault, the group goes on and its committed offsets never go back.
func TestFailoverKeepsAcknowledgedRecords(t *testing.T) {
	c := Start(t, 3, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm := c.Admin()
	const topic, parts = "busy", 6
	c.CreateTopic(ctx, adm, topic, parts, 3)
	pr := startProducer(t, c, topic, parts, 1000)
	gc := startGroupConsumer(t, c, "busy-readers", topic)
	Eventually(ctx, t, "the group to read", func() bool { return gc.read.Load() > 500 })

	rounds := []string{"leader", "controller", "leader", "pause"}
	if soak() {
		rounds = nil
		for i := range 12 {
			rounds = append(rounds, []string{"leader", "controller", "leader", "pause"}[i%4])
		}
	}
	var took []time.Duration
	for i, kind := range rounds {
		md := c.WaitBrokers(ctx, 3)
		ps, err := Partitions(ctx, adm, topic)
		if err != nil {
			t.Fatal(err)
		}
		p := int32(i % parts)
		victim := ps[p].Leader
		if kind == "controller" {
			victim = md.Controller
			p = -1
			for _, pd := range ps.Sorted() {
				if pd.Leader == victim {
					p = pd.Partition
					break
				}
			}
		}
		before := committed(ctx, t, adm, "busy-readers", topic)
		readBefore, ackedBefore := gc.read.Load(), pr.ackedCount()
		start := time.Now()
		switch kind {
		case "pause":
			c.Pause(victim)
		default:
			c.Kill(victim)
		}
		if p >= 0 {
			e, d := c.WaitNewLeader(ctx, topic, p, victim, start)
			took = append(took, d)
			t.Logf("round %d: %s %d of %s-%d down; new leader elected after %s, serving after %s", i, kind, victim, topic, p, e.Round(time.Millisecond), d.Round(time.Millisecond))
			if d > leaderLimit {
				t.Errorf("round %d: a new leader took %s", i, d)
			}
		}
		Eventually(ctx, t, "producing and consuming to go on", func() bool {
			return pr.ackedCount() > ackedBefore+200 && gc.read.Load() > readBefore+200
		})
		t.Logf("round %d: producing and consuming went on after %s", i, time.Since(start).Round(time.Millisecond))
		if kind == "pause" {
			c.Resume(victim)
		} else {
			c.StartNode(victim)
		}
		c.WaitBrokers(ctx, 3)
		t.Logf("round %d: broker %d back after %s", i, victim, time.Since(start).Round(time.Millisecond))
		c.WaitFullISR(ctx, adm, topic)
		c.WaitFullISR(ctx, adm, "__consumer_offsets")
		t.Logf("round %d: every replica in sync after %s", i, time.Since(start).Round(time.Millisecond))
		checkNotBehind(t, before, committed(ctx, t, adm, "busy-readers", topic))
		if t.Failed() {
			break
		}
	}
	if len(took) > 0 {
		t.Logf("time from the fault to a new leader serving: %s", durations(took))
	}
	end := time.Now()
	pr.stop(ctx, t)
	gc.stop()
	t.Logf("stopped producing after %s", time.Since(end).Round(time.Millisecond))
	pr.verify(ctx, t, c)
	t.Logf("verified after %s", time.Since(end).Round(time.Millisecond))
}

// A whole zone lost (the one of a group's coordinator): its broker
// stopped, the other two zones serve reads and acks=all writes, and the
// group resumes at its committed offsets on the new coordinator. Then
// every broker is killed at once and started again: all the data and the
// committed offsets are there.
func TestZoneLossAndFullRestart(t *testing.T) {
	c := Start(t, 3, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adm := c.Admin()
	const topic, parts = "zones", 3
	c.CreateTopic(ctx, adm, topic, parts, 3)

	produce := func(from, n int) {
		t.Helper()
		cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		var rs []*kgo.Record
		for i := from; i < from+n; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce %d..%d: %v", from, from+n, err)
		}
	}
	// consume reads n records in group "zone-readers", commits them and
	// returns their values.
	consume := func(n int) map[string]bool {
		t.Helper()
		cl := c.Client(kgo.ConsumerGroup("zone-readers"), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		defer cl.Close()
		got := map[string]bool{}
		for len(got) < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("group read %d of %d", len(got), n)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if got[string(r.Value)] {
					t.Errorf("group read %s twice", r.Value)
				}
				got[string(r.Value)] = true
			})
		}
		if len(got) != n {
			t.Fatalf("group read %d records, want %d", len(got), n)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		return got
	}
	checkAll := func(n int) {
		t.Helper()
		got := readAll(ctx, t, c, topic)
		total := 0
		for _, seqs := range got {
			total += len(seqs)
		}
		if total != n {
			t.Fatalf("%d records in %s, want %d", total, topic, n)
		}
	}

	produce(0, 300)
	if got := consume(300); !got["0"] || !got["299"] {
		t.Fatalf("group read %d", len(got))
	}

	// The zone of the group's coordinator goes away, so the coordinator
	// moves and must load the group's commits.
	var lost int32
	Eventually(ctx, t, "the group's coordinator", func() bool {
		r, ok := adm.FindGroupCoordinators(ctx, "zone-readers")["zone-readers"]
		lost = r.NodeID
		return ok && r.Err == nil && r.NodeID >= 0
	})
	t.Logf("stopping %s (broker %d, the coordinator of the group)", c.Nodes[lost].Zone, lost)
	c.Kill(lost)
	Eventually(ctx, t, "leaders outside the lost zone", func() bool {
		ps, err := Partitions(ctx, adm, topic)
		if err != nil {
			return false
		}
		for _, p := range ps {
			if p.Leader < 0 || p.Leader == lost {
				return false
			}
		}
		return true
	})
	produce(300, 300)
	checkAll(600)
	// The group goes on from its commits at the new coordinator: exactly
	// the 300 new records.
	if got := consume(300); !got["300"] || !got["599"] || got["0"] {
		t.Fatalf("after the zone loss the group read %d records, first batch included: %v", len(got), got["0"])
	}

	c.StartNode(lost)
	c.WaitBrokers(ctx, 3)
	c.WaitFullISR(ctx, adm, topic)

	// Full restart: every broker killed at once.
	for _, nd := range c.Nodes {
		c.Kill(nd.ID)
	}
	for _, nd := range c.Nodes {
		c.StartNode(nd.ID)
	}
	c.WaitBrokers(ctx, 3)
	checkAll(600)
	offs := committed(ctx, t, c.Admin(), "zone-readers", topic)
	var sum int64
	for _, o := range offs {
		sum += o
	}
	if sum != 600 {
		t.Fatalf("committed offsets after the full restart: %v (sum %d, want 600)", offs, sum)
	}
	produce(600, 30)
	if got := consume(30); !got["600"] || !got["629"] {
		t.Fatalf("after the full restart the group read %d records", len(got))
	}
}
