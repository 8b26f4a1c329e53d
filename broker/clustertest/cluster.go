// Package clustertest runs Sluice clusters of real `sluice broker`
// processes on loopback and breaks them: kill -9 of partition leaders and
// of the active controller, SIGSTOP/SIGCONT, the loss of a whole zone, full
// restarts. Its tests check Kafka's promises through real clients: no
// acknowledged record lost, none duplicated, order per partition kept,
// consumer groups going on with their committed offsets. Benchmarks measure
// produce throughput with RF=3 acks=all against RF=1 and the time from a
// leader's kill to a new leader serving.
package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// Cluster is n `sluice broker` processes, every one a controller (voter of
// the metadata quorum), node i in zone-(i % zones).
type Cluster struct {
	tb    testing.TB
	Nodes []*Node
}

// Node is one broker process and how to start it again.
type Node struct {
	ID    int32
	Zone  string
	Kafka string // host:port, the same across restarts
	conf  string
	proc  *testenv.Process
	up    bool
}

// Settings are broker settings for fast failover in tests: a broker silent
// for 3 s is fenced and its leaderships move.
var Settings = map[string]string{
	"broker.session.timeout.ms":    "3000",
	"broker.heartbeat.interval.ms": "500",
	"min.insync.replicas":          "2",
	"default.replication.factor":   "3",
	"auto.create.topics.enable":    "false",
}

func freeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// Start starts n brokers in zones zones with Settings plus extra and waits
// until all are registered.
func Start(tb testing.TB, n, zones int, extra map[string]string) *Cluster {
	tb.Helper()
	addrs := freeAddrs(tb, 2*n)
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@%s", i, addrs[n+i]))
	}
	c := &Cluster{tb: tb}
	root := tb.TempDir()
	for i := range n {
		nd := &Node{ID: int32(i), Zone: fmt.Sprintf("zone-%c", 'a'+i%zones), Kafka: addrs[i]}
		dir := filepath.Join(root, fmt.Sprintf("node-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "data_dir: %s\nkafka:\n  addr: %s\napi:\n  addr: 127.0.0.1:0\nbroker:\n", dir, nd.Kafka)
		settings := map[string]string{
			"node.id":                  fmt.Sprint(i),
			"broker.rack":              nd.Zone,
			"cluster.id":               "clustertest",
			"controller.quorum.voters": strings.Join(voters, ","),
		}
		for k, v := range Settings {
			settings[k] = v
		}
		for k, v := range extra {
			settings[k] = v
		}
		for k, v := range settings {
			fmt.Fprintf(&b, "  %s: %q\n", k, v)
		}
		nd.conf = filepath.Join(dir, "sluice.yaml")
		if err := os.WriteFile(nd.conf, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		c.StartNode(nd.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.WaitBrokers(ctx, n)
	return c
}

// StartNode starts (or restarts) node id.
func (c *Cluster) StartNode(id int32) {
	nd := c.Nodes[id]
	nd.proc = testenv.StartProcess(c.tb, "broker", "--config", nd.conf, "--log-level", "info")
	nd.up = true
}

// Kill sends SIGKILL to node id and waits for it to be gone.
func (c *Cluster) Kill(id int32) {
	c.Nodes[id].proc.Kill()
	c.Nodes[id].up = false
}

// Pause sends SIGSTOP to node id: it is cut off without its sockets closing.
func (c *Cluster) Pause(id int32) {
	if err := syscall.Kill(c.Nodes[id].proc.Pid(), syscall.SIGSTOP); err != nil {
		c.tb.Fatal(err)
	}
}

// Resume sends SIGCONT to a paused node.
func (c *Cluster) Resume(id int32) {
	if err := syscall.Kill(c.Nodes[id].proc.Pid(), syscall.SIGCONT); err != nil {
		c.tb.Fatal(err)
	}
}

// Seeds is the Kafka address of every node.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, nd := range c.Nodes {
		out = append(out, nd.Kafka)
	}
	return out
}

// Client is a kgo client of the cluster, closed when the test ends.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...), kgo.RetryTimeout(2 * time.Minute)}, opts...)...)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.tb.Cleanup(cl.Close)
	return cl
}

// Admin is an admin client of the cluster.
func (c *Cluster) Admin() *kadm.Client { return kadm.NewClient(c.Client()) }

// WaitBrokers waits until n brokers are registered and unfenced and a
// controller is active.
func (c *Cluster) WaitBrokers(ctx context.Context, n int) kadm.Metadata {
	c.tb.Helper()
	adm := kadm.NewClient(c.Client())
	var md kadm.Metadata
	Eventually(ctx, c.tb, fmt.Sprintf("%d brokers", n), func() bool {
		var err error
		md, err = adm.Metadata(ctx)
		return err == nil && len(md.Brokers) == n && md.Controller >= 0
	})
	return md
}

// Eventually polls cond until it holds, failing the test when ctx ends.
func Eventually(ctx context.Context, tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Partitions is the metadata of topic's partitions (from a fresh request).
func Partitions(ctx context.Context, adm *kadm.Client, topic string) (kadm.PartitionDetails, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td := md.Topics[topic]
	if td.Err != nil {
		return nil, td.Err
	}
	return td.Partitions, nil
}

// WaitFullISR waits until every partition of topic has a leader and all its
// replicas in sync.
func (c *Cluster) WaitFullISR(ctx context.Context, adm *kadm.Client, topic string) {
	c.tb.Helper()
	Eventually(ctx, c.tb, "every replica of "+topic+" in sync", func() bool {
		ps, err := Partitions(ctx, adm, topic)
		if err != nil || len(ps) == 0 {
			return false
		}
		for _, p := range ps {
			if p.Leader < 0 || len(p.ISR) != len(p.Replicas) || p.Err != nil {
				return false
			}
		}
		return true
	})
}

// CreateTopic creates topic with partitions and rf and waits until every
// partition has a leader.
func (c *Cluster) CreateTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16) {
	c.tb.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, rf, nil, topic)
	if err != nil || resp.Err != nil {
		c.tb.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	Eventually(ctx, c.tb, topic+" with leaders", func() bool {
		ps, err := Partitions(ctx, adm, topic)
		if err != nil || len(ps) != int(partitions) {
			return false
		}
		for _, p := range ps {
			if p.Leader < 0 || p.Err != nil {
				return false
			}
		}
		return true
	})
}

// WaitNewLeader waits until partition p of topic is led by a broker other
// than old and a produce to it (acks=all) is acknowledged, and returns how
// long after since the new leader was in the metadata and how long until
// it served. It asks the other brokers only: a paused broker holds
// requests until the client's timeouts, which would measure the client.
func (c *Cluster) WaitNewLeader(ctx context.Context, topic string, p int32, old int32, since time.Time) (elected, serving time.Duration) {
	c.tb.Helper()
	c.WaitLeaderMoved(ctx, topic, p, old)
	elected = time.Since(since)
	cl := c.Client(append(c.quickOpts(old), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite())...)
	defer cl.Close()
	r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("probe")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		c.tb.Fatalf("produce to the new leader of %s-%d: %v", topic, p, err)
	}
	return elected, time.Since(since)
}

// WaitLeaderMoved waits until partition p of topic has a leader other than
// old, without writing to it (compacted topics take no keyless probe).
func (c *Cluster) WaitLeaderMoved(ctx context.Context, topic string, p int32, old int32) {
	c.tb.Helper()
	adm := kadm.NewClient(c.Client(c.quickOpts(old)...))
	defer adm.Close()
	Eventually(ctx, c.tb, fmt.Sprintf("a new leader of %s-%d", topic, p), func() bool {
		ps, err := Partitions(ctx, adm, topic)
		if err != nil {
			return false
		}
		l := ps[p].Leader
		return l >= 0 && l != old
	})
}

// quickOpts seed a client with every node but old; a request it routes to
// the stopped broker (in the metadata until fenced) fails after a second
// instead of hanging.
func (c *Cluster) quickOpts(old int32) []kgo.Opt {
	var seeds []string
	for _, nd := range c.Nodes {
		if nd.ID != old {
			seeds = append(seeds, nd.Kafka)
		}
	}
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RequestTimeoutOverhead(time.Second), kgo.DialTimeout(time.Second)}
}
