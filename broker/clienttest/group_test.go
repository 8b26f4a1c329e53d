package clienttest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// member is one consumer of a group, recording what it owns and consumes.
type member struct {
	name   string
	cl     *kgo.Client
	dialer *cuttableDialer

	mu       sync.Mutex
	owned    map[int32]bool
	consumed map[string]int // value -> times seen
	cancel   context.CancelFunc
	done     chan struct{}
}

// cuttableDialer lets a test sever every connection of one client at once and
// refuse new ones: the client goes silent, as a crashed process would.
type cuttableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (d *cuttableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, fmt.Errorf("dialer cut")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cuttableDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

func startMember(t *testing.T, bootstrap, group, topic, name string, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{name: name, owned: map[int32]bool{}, consumed: map[string]int{}, dialer: &cuttableDialer{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.Dialer(m.dialer.dial),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			for _, p := range a[topic] {
				m.owned[p] = true
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			// Overriding the revoke callback replaces franz-go's default
			// commit on revoke (and on leave), so commit here as it would.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
			m.mu.Lock()
			for _, p := range r[topic] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			for _, p := range l[topic] {
				delete(m.owned, p)
			}
			m.mu.Unlock()
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				m.mu.Lock()
				m.consumed[string(r.Value)]++
				m.mu.Unlock()
			})
		}
	}()
	t.Cleanup(m.crash)
	return m
}

// leave stops polling and closes the client cleanly: it commits and sends LeaveGroup.
func (m *member) leave() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cl.Close()
	m.cancel = nil
}

// crash stops the member without a LeaveGroup: its connections are cut first.
func (m *member) crash() {
	if m.cancel == nil {
		return
	}
	m.dialer.cutAll()
	m.cancel()
	<-m.done
	m.cl.Close()
	m.cancel = nil
}

func (m *member) ownedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.owned)
}

// waitFor polls cond until it holds, failing the test after a generous limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func produceValues(t *testing.T, bootstrap, topic, prefix string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func distinctConsumed(members ...*member) map[string]bool {
	all := map[string]bool{}
	for _, m := range members {
		m.mu.Lock()
		for v := range m.consumed {
			all[v] = true
		}
		m.mu.Unlock()
	}
	return all
}

func TestGroupOfThree(t *testing.T) {
	for _, bal := range []struct {
		name string
		opt  kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			b := testenv.StartBroker(t)
			ctx := context.Background()
			adm := adminClient(t, b.Addr)
			const topic, group = "orders", "g"
			if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produceValues(t, b.Addr, topic, "a", 300)

			ms := []*member{
				startMember(t, b.Addr, group, topic, "m0", kgo.Balancers(bal.opt)),
				startMember(t, b.Addr, group, topic, "m1", kgo.Balancers(bal.opt)),
				startMember(t, b.Addr, group, topic, "m2", kgo.Balancers(bal.opt)),
			}
			balanced := func(live []*member, each int) func() bool {
				return func() bool {
					for _, m := range live {
						if m.ownedCount() != each {
							return false
						}
					}
					return true
				}
			}
			waitFor(t, "3 members with 2 partitions each", 60*time.Second, balanced(ms, 2))
			waitFor(t, "all 300 records consumed", 60*time.Second, func() bool { return len(distinctConsumed(ms...)) == 300 })

			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			if g := described[group]; g.State != "Stable" || len(g.Members) != 3 {
				t.Fatalf("describe: state %q with %d members, want Stable with 3", g.State, len(g.Members))
			}

			// A member leaves cleanly: the other two share its partitions.
			ms[2].leave()
			waitFor(t, "2 members with 3 partitions each after a leave", 60*time.Second, balanced(ms[:2], 3))

			// A member crashes (no LeaveGroup): after its session times out the
			// survivor owns everything and consumes what is produced next.
			ms[1].crash()
			waitFor(t, "the last member owning all 6 partitions after a crash", 60*time.Second, balanced(ms[:1], 6))
			produceValues(t, b.Addr, topic, "b", 60)
			waitFor(t, "records produced after the crash consumed", 60*time.Second, func() bool {
				return len(distinctConsumed(ms...)) == 360
			})

			// A member joining again rebalances to 3 each.
			ms = append(ms[:1], startMember(t, b.Addr, group, topic, "m3", kgo.Balancers(bal.opt)))
			waitFor(t, "2 members with 3 partitions each after a join", 60*time.Second, balanced(ms, 3))
		})
	}
}

func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := testenv.StartBroker(t, testenv.WithDataDir(dir))
	ctx := context.Background()
	adm := adminClient(t, b.Addr)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b.Addr, "t", "v", 90)
	m := startMember(t, b.Addr, "survivor", "t", "m")
	waitFor(t, "90 records consumed", 60*time.Second, func() bool { return len(distinctConsumed(m)) == 90 })
	m.leave() // commits on close
	before, err := adm.FetchOffsets(ctx, "survivor")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	before.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 90 {
		t.Fatalf("committed offsets sum to %d before restart, want 90", total)
	}
	b.Stop(t)

	b2 := testenv.StartBroker(t, testenv.WithDataDir(dir))
	adm2 := adminClient(t, b2.Addr)
	after, err := adm2.FetchOffsets(ctx, "survivor")
	if err != nil {
		t.Fatal(err)
	}
	before.Each(func(o kadm.OffsetResponse) {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("%s/%d: committed %d before restart, %+v after", o.Topic, o.Partition, o.At, a)
		}
	})
	// A new member of the group resumes after the committed offsets: it sees
	// only what is produced now.
	produceValues(t, b2.Addr, "t", "w", 30)
	m2 := startMember(t, b2.Addr, "survivor", "t", "m2")
	waitFor(t, "30 new records consumed", 60*time.Second, func() bool { return len(distinctConsumed(m2)) == 30 })
	for v := range distinctConsumed(m2) {
		if v[0] != 'w' {
			t.Fatalf("restarted group re-consumed %q", v)
		}
	}
}

func TestStaticMembershipRejoinWithoutRebalance(t *testing.T) {
	b := testenv.StartBroker(t)
	ctx := context.Background()
	adm := adminClient(t, b.Addr)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "s"); err != nil {
		t.Fatal(err)
	}
	a := startMember(t, b.Addr, "static", "s", "a", kgo.InstanceID("instance-a"))
	bm := startMember(t, b.Addr, "static", "s", "b", kgo.InstanceID("instance-b"))
	waitFor(t, "2 static members with 2 partitions each", 60*time.Second, func() bool {
		return a.ownedCount() == 2 && bm.ownedCount() == 2
	})
	described, err := adm.DescribeGroups(ctx, "static")
	if err != nil {
		t.Fatal(err)
	}
	g := described["static"]
	instances := map[string]bool{}
	for _, m := range g.Members {
		if m.InstanceID != nil {
			instances[*m.InstanceID] = true
		}
	}
	if !instances["instance-a"] || !instances["instance-b"] {
		t.Fatalf("described members' instance ids = %v", instances)
	}
	_, genBefore := bm.cl.GroupMetadata()

	// A static member's client closes without LeaveGroup (franz-go does not
	// leave for static members) and comes back with the same instance id
	// within the session timeout: no rebalance, the generation stays.
	a.leave()
	a2 := startMember(t, b.Addr, "static", "s", "a2", kgo.InstanceID("instance-a"))
	waitFor(t, "the restarted static member gets its 2 partitions back", 60*time.Second, func() bool { return a2.ownedCount() == 2 })
	if _, genAfter := bm.cl.GroupMetadata(); genAfter != genBefore {
		t.Fatalf("generation moved from %d to %d: a static rejoin must not rebalance", genBefore, genAfter)
	}
	if bm.ownedCount() != 2 {
		t.Fatalf("other member owns %d partitions, want its 2 kept", bm.ownedCount())
	}
}
