package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker/kafka"
)

// testCluster is n brokers in this process, every one a voter of the
// metadata quorum (process.roles=broker,controller), broker i in zone i%zones.
type testCluster struct {
	t       *testing.T
	brokers map[int32]*testBroker
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func startCluster(t *testing.T, n, zones int, extra map[string]string) *testCluster {
	t.Helper()
	raftAddrs := freePorts(t, n)
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@%s", i, raftAddrs[i]))
	}
	c := &testCluster{t: t, brokers: map[int32]*testBroker{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			settings := map[string]string{
				"controller.quorum.voters":     strings.Join(voters, ","),
				"cluster.id":                   "test-cluster-" + t.Name(),
				"broker.session.timeout.ms":    "1500",
				"broker.heartbeat.interval.ms": "250",
			}
			for k, v := range extra {
				settings[k] = v
			}
			b, err := New(Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", NodeID: int32(i), Rack: fmt.Sprintf("zone-%c", 'a'+i%zones), Settings: settings, Logger: testLogger().With("node", i)})
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			c.brokers[int32(i)] = runBroker(t, b)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// runBroker runs an opened broker until the test ends (or stop).
func runBroker(t *testing.T, b *Broker) *testBroker {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	for b.Ready() != nil {
		time.Sleep(time.Millisecond)
	}
	tb := &testBroker{Broker: b, t: t}
	stopped := false
	tb.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	t.Cleanup(tb.stop)
	return tb
}

func (c *testCluster) seeds() []string {
	var out []string
	for _, b := range c.brokers {
		out = append(out, b.Addr().String())
	}
	return out
}

func (c *testCluster) admin() *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitFor polls cond until it holds or the test's context ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestClusterRegistersPlacesAndFailsOver(t *testing.T) {
	c := startCluster(t, 3, 3, nil)
	ctx := testCtx(t)
	adm := c.admin()

	// Every broker registers with the controller and is listed with its zone.
	var md kadm.Metadata
	waitFor(ctx, t, "three brokers in Metadata", func() bool {
		var err error
		md, err = adm.Metadata(ctx)
		return err == nil && len(md.Brokers) == 3
	})
	for _, b := range md.Brokers {
		if b.Rack == nil || *b.Rack != fmt.Sprintf("zone-%c", 'a'+b.NodeID) {
			t.Fatalf("broker %d rack %v", b.NodeID, b.Rack)
		}
	}
	controller := md.Controller
	if c.brokers[controller] == nil || !c.brokers[controller].quorum.IsLeader() {
		t.Fatalf("controller %d is not the Raft leader", controller)
	}

	// RF=3 over three zones: each partition has one replica per zone and
	// the leaders are spread.
	resp, err := adm.CreateTopic(ctx, 6, 3, nil, "spread")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	var td kadm.TopicDetail
	waitFor(ctx, t, "the topic on every broker", func() bool {
		for _, b := range c.brokers {
			if _, ok := b.Topic("spread"); !ok {
				return false
			}
		}
		md, err := adm.Metadata(ctx, "spread")
		td = md.Topics["spread"]
		return err == nil && len(td.Partitions) == 6
	})
	leaders := map[int32]int{}
	for _, p := range td.Partitions {
		zones := map[int32]bool{}
		for _, r := range p.Replicas {
			zones[r%3] = true
		}
		if len(p.Replicas) != 3 || len(zones) != 3 || !slices.Equal(p.ISR, p.Replicas) {
			t.Fatalf("partition %d: replicas %v isr %v", p.Partition, p.Replicas, p.ISR)
		}
		leaders[p.Leader]++
	}
	if len(leaders) != 3 {
		t.Fatalf("leaders %v", leaders)
	}

	// The controller dies: another is elected, fences it after the session
	// timeout and moves its leaderships to in-sync replicas.
	c.brokers[controller].stop()
	delete(c.brokers, controller)
	adm = c.admin()
	waitFor(ctx, t, "a new controller that fenced the old", func() bool {
		md, err := adm.Metadata(ctx, "spread")
		if err != nil || len(md.Brokers) != 2 || md.Controller == controller || md.Controller < 0 {
			return false
		}
		for _, p := range md.Topics["spread"].Partitions {
			if p.Leader == controller || p.Leader < 0 || slices.Contains(p.ISR, controller) {
				return false
			}
		}
		return true
	})
	md, _ = adm.Metadata(ctx, "spread")
	for _, p := range md.Topics["spread"].Partitions {
		if p.Replicas[0] == controller && p.LeaderEpoch != 1 {
			t.Fatalf("partition %d moved leader without a new epoch: %+v", p.Partition, p)
		}
	}
	// A broker that is not the controller forwards topic creation and
	// producer-id blocks to it.
	for id, b := range c.brokers {
		if b.quorum.IsLeader() {
			continue
		}
		if _, err := b.CreateTopic(ctx, kafka.CreateTopic{Name: "forwarded", Partitions: 2, ReplicationFactor: 2}); err != nil {
			t.Fatalf("create through follower %d: %v", id, err)
		}
		pid, err := b.AllocateProducerID(ctx)
		if err != nil || pid < 0 {
			t.Fatalf("producer id through follower %d: %d %v", id, pid, err)
		}
		break
	}
	// Metadata changes go on through the new controller.
	if resp, err := adm.CreateTopic(ctx, 2, 2, nil, "after"); err != nil || resp.Err != nil {
		t.Fatalf("create after failover: %v %v", err, resp.Err)
	}
}
