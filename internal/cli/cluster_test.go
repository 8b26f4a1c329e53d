package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gopkg.in/yaml.v3"
)

// freeBasePort finds a base port with n free Kafka ports and n free
// controller ports (base+10000+i) on loopback.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(30000)
		ok := true
		var lns []net.Listener
		for i := range n {
			for _, port := range []int{base + i, base + controllerPortOffset + i} {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err != nil {
					ok = false
					break
				}
				lns = append(lns, ln)
			}
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func runCluster(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := Run(ctx, append([]string{"cluster"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func mustCluster(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCluster(t, args...)
	if code != 0 {
		t.Fatalf("sluice cluster %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func clusterStatusJSON(t *testing.T, dir string) clusterStatus {
	t.Helper()
	var st clusterStatus
	mustJSON(t, mustCluster(t, "status", "--data-dir", dir, "-o", "json", "--partitions"), &st)
	return st
}

// `sluice cluster up` starts three broker processes in three zones, `status`
// shows them, their controllers and partitions (and a killed broker as down
// with its partitions under-replicated), `up` restarts what is not running,
// `down` stops every process and a later `up` finds the data again.
func TestClusterUpStatusDown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	base := freeBasePort(t, 3)
	t.Cleanup(func() {
		if code, _, errs := runCluster(t, "down", "--data-dir", dir, "--timeout", "5s"); code != 0 && !strings.Contains(errs, "no cluster") {
			t.Logf("cleanup: cluster down: %s", errs)
		}
		if t.Failed() {
			for i := range 3 {
				t.Logf("node %d log:\n%s", i, logTail(filepath.Join(dir, fmt.Sprintf("node-%d", i), "broker.log"), 40))
			}
		}
	})
	out := mustCluster(t, "up", "--brokers", "3", "--zones", "3", "--base-port", strconv.Itoa(base), "--data-dir", dir,
		"--set", "broker.session.timeout.ms=2000", "--set", "broker.heartbeat.interval.ms=250", "-o", "json")
	var up struct {
		ClusterID string        `json:"cluster_id"`
		Bootstrap string        `json:"bootstrap"`
		Nodes     []clusterNode `json:"nodes"`
	}
	mustJSON(t, out, &up)
	if len(up.Nodes) != 3 || up.ClusterID == "" {
		t.Fatalf("up: %s", out)
	}
	for i, n := range up.Nodes {
		if n.Kafka != fmt.Sprintf("127.0.0.1:%d", base+i) || n.Zone != zoneName(i) || n.Controller == "" || n.Pid == 0 {
			t.Fatalf("node %d: %+v", i, n)
		}
	}
	if code, _, errs := runCluster(t, "up", "--data-dir", dir); code == 0 || !strings.Contains(errs, "runs already") {
		t.Fatalf("second up: exit %d, %s", code, errs)
	}

	st := clusterStatusJSON(t, dir)
	if st.ClusterID != up.ClusterID || len(st.Brokers) != 3 || len(st.Zones) != 3 || len(st.Controllers) != 3 || st.Controller < 0 {
		t.Fatalf("status: %+v", st)
	}
	for _, b := range st.Brokers {
		if !b.Up || b.Controller == "" {
			t.Fatalf("broker %+v", b)
		}
	}

	// A topic over the three zones, written with acks=all.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(up.Bootstrap, ",")...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, "orders"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for i := range 30 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	st = clusterStatusJSON(t, dir)
	leaders := 0
	for _, b := range st.Brokers {
		leaders += b.Leaders
	}
	if st.PartitionCount != 3 || leaders != 3 || st.UnderReplicated != 0 || len(st.Partitions) != 3 {
		t.Fatalf("status after create: %+v", st)
	}

	// kill -9 a broker that is not the active controller: status shows it
	// down and its partitions under-replicated once it is fenced.
	victim := up.Nodes[(st.Controller+1)%3]
	if err := syscall.Kill(victim.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the killed broker fenced and its partitions under-replicated", time.Minute, func() bool {
		st = clusterStatusJSON(t, dir)
		for _, b := range st.Brokers {
			if b.ID == victim.ID && b.Up {
				return false
			}
		}
		return st.UnderReplicated == 3 && st.Offline == 0
	})
	code, table, _ := runCluster(t, "status", "--data-dir", dir)
	if code != 0 || !strings.Contains(table, "under-replicated") || !strings.Contains(table, "down") || !strings.Contains(table, "2 up of 3") {
		t.Fatalf("status table:\n%s", table)
	}

	// up starts the stopped node only; it catches up and rejoins the ISRs.
	out = mustCluster(t, "up", "--data-dir", dir, "-o", "json")
	mustJSON(t, out, &up)
	waitUntil(t, "the restarted broker back in every ISR", time.Minute, func() bool {
		st = clusterStatusJSON(t, dir)
		return len(st.Brokers) == 3 && st.UnderReplicated == 0 && st.Offline == 0
	})

	// rebalance: a topic whose replicas all sit on one broker is spread
	// evenly (throttled), with its data intact; --dry-run changes nothing.
	rebalanceSkewedTopic(t, ctx, up.Bootstrap, dir, up.Nodes[0].ID)

	// down stops every process; the data stays for the next up.
	if out := mustCluster(t, "down", "--data-dir", dir); !strings.Contains(out, "is down") {
		t.Fatalf("down: %s", out)
	}
	for _, n := range up.Nodes {
		if processAlive(n.Pid) {
			t.Fatalf("node %d (pid %d) still runs after down", n.ID, n.Pid)
		}
		if _, err := os.Stat(pidFile(n)); !os.IsNotExist(err) {
			t.Fatalf("pid file of node %d left: %v", n.ID, err)
		}
	}
	if code, _, _ := runCluster(t, "status", "--data-dir", dir, "--request-timeout", "1s"); code == 0 {
		t.Fatal("status of a stopped cluster succeeded")
	}
	cl.Close()

	mustCluster(t, "up", "--data-dir", dir)
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(up.Bootstrap, ",")...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]bool{}
	for len(seen) < 30 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 30 records after the restart", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}

func TestClusterUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--brokers", "3", "--controllers", "4", "--data-dir", dir}, "--controllers"},
		{[]string{"up", "--brokers", "0", "--data-dir", dir}, "--brokers"},
		{[]string{"up", "--base-port", "60000", "--data-dir", dir}, "--base-port"},
		{[]string{"up", "--set", "node.id=3", "--data-dir", dir}, "node.id"},
		{[]string{"status", "--data-dir", filepath.Join(dir, "none")}, "no cluster"},
		{[]string{"down", "--data-dir", filepath.Join(dir, "none")}, "no cluster"},
	} {
		code, _, errs := runCluster(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("cluster %v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
}

// rebalanceSkewedTopic creates topic "skewed" with its 6 partitions all on
// broker on, writes 60 records, and checks `sluice cluster rebalance`:
// the dry run plans moves and changes nothing, the real run completes
// them, every broker ends with the same number of replicas, and all 60
// records read back.
func rebalanceSkewedTopic(t *testing.T, ctx context.Context, bootstrap, dir string, on int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.DefaultProduceTopic("skewed"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "skewed", -1, -1
	for p := range int32(6) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, []int32{on}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create skewed: %v", err)
	}
	for i := range 60 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	replicasOf := func() map[int32]int {
		st := clusterStatusJSON(t, dir)
		out := map[int32]int{}
		for _, b := range st.Brokers {
			out[b.ID] = b.Replicas
		}
		return out
	}
	before := replicasOf()

	var dry rebalanceReport
	mustJSON(t, mustCluster(t, "rebalance", "--data-dir", dir, "--dry-run", "-o", "json"), &dry)
	if !dry.DryRun || len(dry.Moves) == 0 || dry.Completed {
		t.Fatalf("dry run: %+v", dry)
	}
	if got := replicasOf(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("the dry run moved replicas: %v -> %v", before, got)
	}

	var rep rebalanceReport
	mustJSON(t, mustCluster(t, "rebalance", "--data-dir", dir, "--throttle", "50000000", "-o", "json"), &rep)
	if rep.DryRun || !rep.Completed || len(rep.Moves) == 0 || rep.Throttle != 50000000 {
		t.Fatalf("rebalance: %+v", rep)
	}
	waitUntil(t, "every broker holding as many replicas", time.Minute, func() bool {
		got := replicasOf()
		return len(got) == 3 && got[0] == got[1] && got[1] == got[2]
	})
	// A second run finds nothing to do.
	var again rebalanceReport
	mustJSON(t, mustCluster(t, "rebalance", "--data-dir", dir, "-o", "json"), &again)
	if len(again.Moves) != 0 {
		t.Fatalf("second rebalance planned moves: %+v", again.Moves)
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.ConsumeTopics("skewed"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]bool{}
	for len(seen) < 60 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 60 records after the rebalance", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}

// `sluice cluster up --brokers 4 --controllers 3`: the fourth node is
// broker-only (a Raft non-voter); status shows four brokers and three
// controllers, and a topic over all four takes writes and reads them back.
func TestClusterUpWithBrokerOnlyNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	base := freeBasePort(t, 4)
	t.Cleanup(func() {
		runCluster(t, "down", "--data-dir", dir, "--timeout", "5s")
		if t.Failed() {
			for i := range 4 {
				t.Logf("node %d log:\n%s", i, logTail(filepath.Join(dir, fmt.Sprintf("node-%d", i), "broker.log"), 40))
			}
		}
	})
	var up struct {
		Bootstrap string        `json:"bootstrap"`
		Nodes     []clusterNode `json:"nodes"`
	}
	mustJSON(t, mustCluster(t, "up", "--brokers", "4", "--zones", "2", "--base-port", strconv.Itoa(base), "--data-dir", dir, "-o", "json"), &up)
	if len(up.Nodes) != 4 || up.Nodes[3].Controller != "" || up.Nodes[2].Controller == "" {
		t.Fatalf("up: %+v", up.Nodes)
	}
	st := clusterStatusJSON(t, dir)
	if len(st.Brokers) != 4 || len(st.Controllers) != 3 || slices.Contains(st.Controllers, 3) {
		t.Fatalf("status: %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(up.Bootstrap, ",")...), kgo.DefaultProduceTopic("wide"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 8, 3, nil, "wide"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	for i := range 80 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	st = clusterStatusJSON(t, dir)
	for _, b := range st.Brokers {
		if b.ID == 3 && (!b.Up || b.Replicas == 0) {
			t.Fatalf("the broker-only node holds no replicas: %+v", b)
		}
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(up.Bootstrap, ",")...), kgo.ConsumeTopics("wide"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]bool{}
	for len(seen) < 80 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 80 records", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}

// A local cluster fences a dead broker after 3 s unless --set says
// otherwise, and --set wins over every default of up.
func TestClusterNodeConfigDefaults(t *testing.T) {
	l := &clusterLayout{ClusterID: "c1", Nodes: []clusterNode{
		{ID: 0, Zone: "zone-a", Kafka: "127.0.0.1:9092", Controller: "127.0.0.1:19092"},
		{ID: 1, Zone: "zone-b", Kafka: "127.0.0.1:9093", Controller: "127.0.0.1:19093"},
		{ID: 2, Zone: "zone-c", Kafka: "127.0.0.1:9094", Controller: "127.0.0.1:19094"},
	}}
	settings := func() map[string]string {
		t.Helper()
		data, err := l.nodeConfig(l.Nodes[1])
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Broker map[string]string `yaml:"broker"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Broker
	}
	got := settings()
	for k, want := range map[string]string{
		"node.id": "1", "broker.rack": "zone-b", "cluster.id": "c1",
		"controller.quorum.voters":  "0@127.0.0.1:19092,1@127.0.0.1:19093,2@127.0.0.1:19094",
		"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500",
		"default.replication.factor": "3", "min.insync.replicas": "2",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	l.Settings = map[string]string{"broker.session.timeout.ms": "9000", "min.insync.replicas": "1"}
	got = settings()
	if got["broker.session.timeout.ms"] != "9000" || got["min.insync.replicas"] != "1" {
		t.Errorf("--set did not override: %v", got)
	}
}
