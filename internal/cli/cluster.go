package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/internal/kclient"
)

// `sluice cluster up|status|down`: a local cluster of `sluice broker`
// processes on loopback, as MSK spreads brokers over availability zones.
// Node i listens for Kafka on base-port+i and, if it is a controller, for
// the metadata quorum (Raft) on base-port+controllerPortOffset+i; its data,
// sluice.yaml, log and pid file live in DIR/node-i. DIR/cluster.json
// records the layout, so `status` and `down` (and a later `up`, which keeps
// the cluster id and so the data) find the nodes.

// controllerPortOffset separates a node's Raft port from its Kafka port.
const controllerPortOffset = 10000

// defaultClusterDir is where `sluice cluster` keeps its nodes unless told.
const defaultClusterDir = "./data/cluster"

// clusterLayout is DIR/cluster.json.
type clusterLayout struct {
	ClusterID   string `json:"cluster_id"`
	BasePort    int    `json:"base_port"`
	Zones       int    `json:"zones"`
	Controllers int    `json:"controllers"`
	// Settings are the --set broker settings, kept for restarts.
	Settings map[string]string `json:"settings,omitempty"`
	Nodes    []clusterNode     `json:"nodes"`
}

// clusterNode is one `sluice broker` process of a local cluster.
type clusterNode struct {
	ID         int32  `json:"id" yaml:"id"`
	Zone       string `json:"zone" yaml:"zone"`
	Kafka      string `json:"kafka" yaml:"kafka"`
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"` // Raft address if a voter
	Dir        string `json:"dir" yaml:"dir"`
	Pid        int    `json:"pid,omitempty" yaml:"pid,omitempty"`
}

func (l *clusterLayout) bootstrap() string {
	addrs := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		addrs[i] = n.Kafka
	}
	return strings.Join(addrs, ",")
}

func (l *clusterLayout) voters() string {
	var vs []string
	for _, n := range l.Nodes {
		if n.Controller != "" {
			vs = append(vs, fmt.Sprintf("%d@%s", n.ID, n.Controller))
		}
	}
	return strings.Join(vs, ",")
}

func zoneName(i int) string { return "zone-" + string(rune('a'+i%26)) }

// newLayout places n brokers round-robin over zones; the first controllers
// nodes are the voters of the metadata quorum.
func newLayout(dir string, brokers, zones, controllers, basePort int) (*clusterLayout, error) {
	switch {
	case brokers < 1:
		return nil, errors.New("--brokers must be at least 1")
	case zones < 1 || zones > 26:
		return nil, errors.New("--zones must be between 1 and 26")
	case controllers < 1 || controllers > brokers:
		return nil, fmt.Errorf("--controllers must be between 1 and the number of brokers (%d)", brokers)
	case basePort < 1 || basePort+controllerPortOffset+brokers > 65535:
		return nil, fmt.Errorf("--base-port %d leaves no room for %d brokers and their controller ports (base-port+%d+i)", basePort, brokers, controllerPortOffset)
	}
	var id [12]byte
	rand.Read(id[:])
	l := &clusterLayout{ClusterID: "sluice-" + base64.RawURLEncoding.EncodeToString(id[:]), BasePort: basePort, Zones: zones, Controllers: controllers}
	for i := range brokers {
		n := clusterNode{
			ID:    int32(i),
			Zone:  zoneName(i % zones),
			Kafka: net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+i)),
			Dir:   filepath.Join(dir, fmt.Sprintf("node-%d", i)),
		}
		if i < controllers {
			n.Controller = net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+controllerPortOffset+i))
		}
		l.Nodes = append(l.Nodes, n)
	}
	return l, nil
}

func readLayout(dir string) (*clusterLayout, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no cluster in %s (start one with sluice cluster up --data-dir %s)", dir, dir)
		}
		return nil, err
	}
	var l clusterLayout
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s/cluster.json: %w", dir, err)
	}
	return &l, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// nodeConfig is node n's sluice.yaml.
func (l *clusterLayout) nodeConfig(n clusterNode) ([]byte, error) {
	broker := map[string]string{
		"node.id":                  strconv.Itoa(int(n.ID)),
		"broker.rack":              n.Zone,
		"cluster.id":               l.ClusterID,
		"controller.quorum.voters": l.voters(),
	}
	if n.Controller == "" {
		// A broker-only node: it follows the metadata as a Raft non-voter on
		// its own port (base-port+10000+i), joining through the controllers.
		host, port, err := net.SplitHostPort(n.Kafka)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		var via []string
		for _, o := range l.Nodes {
			if o.Controller != "" {
				via = append(via, o.Kafka)
			}
		}
		broker["process.roles"] = "broker"
		broker["metadata.observer.listener"] = net.JoinHostPort(host, strconv.Itoa(p+controllerPortOffset))
		broker["controller.quorum.bootstrap.servers"] = strings.Join(via, ",")
	}
	// MSK's defaults for a cluster over three zones.
	if len(l.Nodes) >= 3 {
		broker["default.replication.factor"] = "3"
		broker["min.insync.replicas"] = "2"
	}
	// Every node shares this machine's loopback, where a heartbeat is not
	// delayed by a network: a dead broker is fenced (and its partitions get
	// new leaders) after 3 s instead of Kafka's 9 s, which keeps failover
	// well inside 10 s. --set overrides both.
	broker["broker.session.timeout.ms"] = "3000"
	broker["broker.heartbeat.interval.ms"] = "500"
	for k, v := range l.Settings {
		broker[k] = v
	}
	doc := map[string]any{
		"data_dir": n.Dir,
		"kafka":    map[string]string{"addr": n.Kafka},
		"api":      map[string]string{"addr": "127.0.0.1:0"},
		"broker":   broker,
	}
	return yaml.Marshal(doc)
}

func pidFile(n clusterNode) string { return filepath.Join(n.Dir, "broker.pid") }

// nodePid is the pid of node n's process if it runs, else 0.
func nodePid(n clusterNode) int {
	data, err := os.ReadFile(pidFile(n))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || !processAlive(pid) {
		return 0
	}
	return pid
}

// processAlive reports whether pid runs (a zombie does not count) and,
// where /proc tells, is a sluice broker rather than a reused pid.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || !procMounted()
	}
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err != nil || strings.Contains(string(cmdline), "broker\x00")
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

func init() {
	register(func() *cobra.Command {
		cmd := &cobra.Command{
			Use:   "cluster",
			Short: "Run a local multi-broker cluster over zones (up, status, down) and rebalance any cluster",
		}
		cmd.AddCommand(clusterUpCmd(), clusterStatusCmd(), clusterDownCmd(), clusterRebalanceCmd())
		return cmd
	})
}

func clusterUpCmd() *cobra.Command {
	var (
		brokers, zones, controllers, basePort int
		dir                                   string
		sets                                  []string
		wait                                  time.Duration
		output                                string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local cluster of broker processes on loopback, spread over zones",
		Long: `Start a local cluster: --brokers processes of "sluice broker", broker i listening for
Kafka on 127.0.0.1:<base-port+i> in zone-<a,b,c...> (round-robin over --zones), the first
--controllers of them voters of the metadata quorum on 127.0.0.1:<base-port+10000+i>. Each
node's data, sluice.yaml, broker.log and broker.pid are in <data-dir>/node-<i>. The processes
run detached; "sluice cluster down" stops them. Run "up" again on the same --data-dir to
restart a stopped cluster (or its stopped nodes) with its data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			settings, err := parseSettings(sets)
			if err != nil {
				return err
			}
			fs := cmd.Flags()
			l, err := readLayout(dir)
			if err == nil {
				// A cluster made before: same nodes, same cluster id, same data.
				if fs.Changed("brokers") && brokers != len(l.Nodes) || fs.Changed("zones") && zones != l.Zones ||
					fs.Changed("controllers") && controllers != l.Controllers || fs.Changed("base-port") && basePort != l.BasePort {
					return fmt.Errorf("%s holds a cluster of %d brokers in %d zones, %d controllers, base port %d: use those or another --data-dir",
						dir, len(l.Nodes), l.Zones, l.Controllers, l.BasePort)
				}
			} else {
				if !fs.Changed("controllers") {
					// Three voters, as MSK's and Kafka's usual quorum; the
					// other nodes are broker-only (Raft non-voters).
					controllers = min(brokers, 3)
				}
				if l, err = newLayout(dir, brokers, zones, controllers, basePort); err != nil {
					return err
				}
			}
			// Nodes that run already (a partial restart) are left alone.
			running := map[int32]int{}
			for _, n := range l.Nodes {
				if pid := nodePid(n); pid != 0 {
					running[n.ID] = pid
				}
			}
			if len(running) == len(l.Nodes) {
				return fmt.Errorf("the cluster in %s runs already (sluice cluster status --data-dir %s)", dir, dir)
			}
			if len(settings) > 0 && l.Settings == nil {
				l.Settings = map[string]string{}
			}
			for k, v := range settings {
				l.Settings[k] = v
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			layoutJSON, err := json.MarshalIndent(l, "", "  ")
			if err != nil {
				return err
			}
			if err := writeFileAtomic(filepath.Join(dir, "cluster.json"), layoutJSON); err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			exited := make(chan int32, len(l.Nodes))
			var started []clusterNode
			stopStarted := func() {
				for _, n := range started {
					if n.Pid != 0 {
						_ = syscall.Kill(n.Pid, syscall.SIGKILL)
						os.Remove(pidFile(n))
					}
				}
			}
			for i, n := range l.Nodes {
				if pid := running[n.ID]; pid != 0 {
					l.Nodes[i].Pid = pid
					continue
				}
				pid, err := startNode(self, l, n, exited)
				if err != nil {
					stopStarted()
					return fmt.Errorf("node %d: %w", n.ID, err)
				}
				l.Nodes[i].Pid = pid
				started = append(started, l.Nodes[i])
			}
			if err := waitCluster(cmd.Context(), l, wait, exited); err != nil {
				stopStarted()
				return err
			}
			return renderNodes(cmd.OutOrStdout(), output, l)
		},
	}
	f := cmd.Flags()
	f.IntVar(&brokers, "brokers", 3, "number of brokers")
	f.IntVar(&zones, "zones", 3, "number of zones (broker.rack) the brokers are spread over")
	f.IntVar(&controllers, "controllers", 3, "number of brokers that are also controllers (voters of the metadata quorum, 3 or 5); at most --brokers; the others are broker-only nodes")
	f.IntVar(&basePort, "base-port", 9092, "Kafka port of broker 0; broker i listens on base-port+i, its controller on base-port+10000+i")
	f.StringVar(&dir, "data-dir", defaultClusterDir, "directory of the nodes' data, configs, logs and pid files")
	f.StringArrayVar(&sets, "set", nil, "broker setting for every node, key=value (repeatable), e.g. --set min.insync.replicas=2")
	f.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for every broker to register")
	addOutputFlag(cmd, &output)
	return cmd
}

func parseSettings(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad --set %q: want key=value", kv)
		}
		switch k {
		case "node.id", "broker.id", "broker.rack", "cluster.id", "controller.quorum.voters", "process.roles",
			"metadata.observer.listener", "controller.quorum.bootstrap.servers":
			return nil, fmt.Errorf("--set %s: set by sluice cluster up per node", k)
		}
		m[k] = v
	}
	return m, nil
}

// startNode writes node n's sluice.yaml and starts `sluice broker` on it in
// a session of its own (so it outlives this command and a terminal's
// signals), its output in broker.log and its pid in broker.pid.
func startNode(self string, l *clusterLayout, n clusterNode, exited chan<- int32) (int, error) {
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return 0, err
	}
	conf, err := l.nodeConfig(n)
	if err != nil {
		return 0, err
	}
	confPath := filepath.Join(n.Dir, "sluice.yaml")
	if err := writeFileAtomic(confPath, conf); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(filepath.Join(n.Dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	c := exec.Command(self, "broker", "--config", confPath)
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return 0, err
	}
	// Reap it should it end while this command (or a test calling it) still
	// runs; once this process ends the broker belongs to init.
	go func() {
		_ = c.Wait()
		exited <- n.ID
	}()
	pid := c.Process.Pid
	if err := writeFileAtomic(pidFile(n), []byte(strconv.Itoa(pid)+"\n")); err != nil {
		_ = c.Process.Kill()
		return 0, err
	}
	return pid, nil
}

// waitCluster waits until every broker is registered and unfenced (listed
// in Metadata) and a controller is active.
func waitCluster(ctx context.Context, l *clusterLayout, wait time.Duration, exited <-chan int32) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	seeds, err := kclient.ParseSeeds(l.bootstrap())
	if err != nil {
		return err
	}
	// Not kclient.Connect: the brokers may not listen yet.
	kc := kclient.Config{Seeds: seeds, ClientID: "sluice-cluster", DialTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second}
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	var last string
	for {
		select {
		case id := <-exited:
			n := l.Nodes[id]
			return fmt.Errorf("node %d exited while starting; the end of %s:\n%s", id, filepath.Join(n.Dir, "broker.log"), logTail(filepath.Join(n.Dir, "broker.log"), 20))
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		md, err := adm.Metadata(rctx)
		rcancel()
		if err == nil && len(md.Brokers) == len(l.Nodes) && md.Controller >= 0 {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d of %d brokers registered", len(md.Brokers), len(l.Nodes))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster did not come up within %s (%s); broker logs are in %s/node-*/broker.log", wait, last, filepath.Dir(l.Nodes[0].Dir))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// renderNodes prints the nodes of a cluster that came up.
func renderNodes(w io.Writer, format string, l *clusterLayout) error {
	t := &table{header: []string{"NODE", "ZONE", "KAFKA", "CONTROLLER", "PID", "DIR"}}
	for _, n := range l.Nodes {
		t.add(strconv.Itoa(int(n.ID)), n.Zone, n.Kafka, orDash(n.Controller), strconv.Itoa(n.Pid), n.Dir)
	}
	out := struct {
		ClusterID string        `json:"cluster_id" yaml:"cluster_id"`
		Bootstrap string        `json:"bootstrap" yaml:"bootstrap"`
		Nodes     []clusterNode `json:"nodes" yaml:"nodes"`
	}{l.ClusterID, l.bootstrap(), l.Nodes}
	if err := render(w, format, out, t); err != nil {
		return err
	}
	if format == "" || format == outputTable {
		fmt.Fprintf(w, "\ncluster %s is up; bootstrap: %s\n", l.ClusterID, l.bootstrap())
	}
	return nil
}

func clusterDownCmd() *cobra.Command {
	var (
		dir     string
		timeout time.Duration
		purge   bool
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the brokers of a local cluster (SIGTERM, then SIGKILL after --timeout); the data stays unless --purge",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := readLayout(dir)
			if err != nil {
				return err
			}
			running := map[int32]int{}
			for _, n := range l.Nodes {
				if pid := nodePid(n); pid != 0 {
					running[n.ID] = pid
					_ = syscall.Kill(pid, syscall.SIGTERM)
				}
			}
			deadline := time.Now().Add(timeout)
			for len(running) > 0 {
				for id, pid := range running {
					if !processAlive(pid) {
						delete(running, id)
					}
				}
				if len(running) == 0 {
					break
				}
				if time.Now().After(deadline) {
					for id, pid := range running {
						fmt.Fprintf(cmd.ErrOrStderr(), "node %d (pid %d) did not stop within %s: killing it\n", id, pid, timeout)
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
					deadline = time.Now().Add(10 * time.Second)
					timeout = 0
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
			for _, n := range l.Nodes {
				os.Remove(pidFile(n))
			}
			if purge {
				for _, n := range l.Nodes {
					if err := os.RemoveAll(n.Dir); err != nil {
						return err
					}
				}
				if err := os.Remove(filepath.Join(dir, "cluster.json")); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster %s is down (%d brokers)\n", l.ClusterID, len(l.Nodes))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "data-dir", defaultClusterDir, "the directory given to sluice cluster up")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the brokers to stop before killing them")
	f.BoolVar(&purge, "purge", false, "also delete the nodes' data")
	return cmd
}

// statusBroker is one broker in `cluster status`.
type statusBroker struct {
	ID         int32  `json:"id" yaml:"id"`
	Address    string `json:"address" yaml:"address"`
	Zone       string `json:"zone" yaml:"zone"`
	Up         bool   `json:"up" yaml:"up"`
	Controller string `json:"controller,omitempty" yaml:"controller,omitempty"` // "active" or "voter"
	Leaders    int    `json:"leaders" yaml:"leaders"`
	Replicas   int    `json:"replicas" yaml:"replicas"`
}

// statusPartition is a partition in `cluster status`.
type statusPartition struct {
	Topic     string  `json:"topic" yaml:"topic"`
	Partition int32   `json:"partition" yaml:"partition"`
	Leader    int32   `json:"leader" yaml:"leader"`
	Epoch     int32   `json:"leader_epoch" yaml:"leader_epoch"`
	Replicas  []int32 `json:"replicas" yaml:"replicas"`
	ISR       []int32 `json:"isr" yaml:"isr"`
	State     string  `json:"state" yaml:"state"` // ok, under-replicated, offline
}

// clusterStatus is the output of `cluster status`.
type clusterStatus struct {
	ClusterID       string            `json:"cluster_id" yaml:"cluster_id"`
	Controller      int32             `json:"active_controller" yaml:"active_controller"`
	Controllers     []int32           `json:"controllers" yaml:"controllers"`
	Zones           []string          `json:"zones" yaml:"zones"`
	Brokers         []statusBroker    `json:"brokers" yaml:"brokers"`
	Topics          int               `json:"topics" yaml:"topics"`
	PartitionCount  int               `json:"partition_count" yaml:"partition_count"`
	UnderReplicated int               `json:"under_replicated" yaml:"under_replicated"`
	Offline         int               `json:"offline" yaml:"offline"`
	Partitions      []statusPartition `json:"partitions" yaml:"partitions"`
}

func clusterStatusCmd() *cobra.Command {
	var (
		cf  clientFlags
		dir string
		all bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show brokers, zones, controllers, partition leaders and under-replicated partitions",
		Long: `Show a cluster's brokers (with their zones and leader counts), its controllers and the
active one, and its under-replicated and offline partitions (all partitions with --partitions).
It asks the cluster over the Kafka protocol: the local cluster of --data-dir (when its
cluster.json exists and --bootstrap is not given), or any cluster at --bootstrap.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var layout *clusterLayout
			if !cmd.Flags().Changed("bootstrap") {
				if l, err := readLayout(dir); err == nil {
					layout = l
					cf.bootstrap = l.bootstrap()
				} else if cmd.Flags().Changed("data-dir") {
					return err
				}
			}
			ctx, cancel := cf.opContext(cmd.Context())
			defer cancel()
			adm, err := cf.admin(ctx)
			if err != nil {
				return err
			}
			defer adm.Close()
			st, err := gatherStatus(ctx, adm, layout)
			if err != nil {
				return err
			}
			if !all {
				var bad []statusPartition
				for _, p := range st.Partitions {
					if p.State != "ok" {
						bad = append(bad, p)
					}
				}
				st.Partitions = bad
			}
			return renderStatus(cmd.OutOrStdout(), cf.output, st)
		},
	}
	cf.add(cmd, true)
	f := cmd.Flags()
	f.StringVar(&dir, "data-dir", defaultClusterDir, "the directory given to sluice cluster up")
	f.BoolVar(&all, "partitions", false, "list every partition, not only under-replicated and offline ones")
	return cmd
}

// gatherStatus asks the cluster for its brokers, controller, voters and
// partitions. The voters come from the brokers' controller.quorum.voters.
func gatherStatus(ctx context.Context, adm *kadm.Client, layout *clusterLayout) (*clusterStatus, error) {
	md, err := adm.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	st := &clusterStatus{ClusterID: md.Cluster, Controller: md.Controller, Controllers: []int32{}, Zones: []string{}, Partitions: []statusPartition{}}
	brokers := map[int32]*statusBroker{}
	for _, b := range md.Brokers {
		sb := &statusBroker{ID: b.NodeID, Address: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), Up: true}
		if b.Rack != nil {
			sb.Zone = *b.Rack
		}
		brokers[b.NodeID] = sb
	}
	if layout != nil {
		// Brokers of the local cluster that are not registered (down or fenced).
		for _, n := range layout.Nodes {
			if brokers[n.ID] == nil {
				brokers[n.ID] = &statusBroker{ID: n.ID, Address: n.Kafka, Zone: n.Zone}
			}
		}
	}
	// The voters: every node has the same controller.quorum.voters.
	if len(md.Brokers) > 0 {
		id := md.Controller
		if brokers[id] == nil || !brokers[id].Up {
			id = md.Brokers[0].NodeID
		}
		if rcs, err := adm.DescribeBrokerConfigs(ctx, id); err == nil {
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if c.Key == "controller.quorum.voters" && c.Value != nil {
						st.Controllers = parseVoterIDs(*c.Value)
					}
				}
			}
		}
	}
	if len(st.Controllers) == 0 && len(md.Brokers) == 1 {
		st.Controllers = []int32{md.Brokers[0].NodeID} // a quorum of one
	}
	for _, v := range st.Controllers {
		if b := brokers[v]; b != nil {
			b.Controller = "voter"
		}
	}
	if b := brokers[md.Controller]; b != nil {
		b.Controller = "active"
	}
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			continue
		}
		st.Topics++
		for _, p := range td.Partitions.Sorted() {
			sp := statusPartition{Topic: td.Topic, Partition: p.Partition, Leader: p.Leader, Epoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, State: "ok"}
			switch {
			case p.Leader < 0:
				sp.State = "offline"
				st.Offline++
			case len(p.ISR) < len(p.Replicas):
				sp.State = "under-replicated"
				st.UnderReplicated++
			}
			st.PartitionCount++
			if b := brokers[p.Leader]; b != nil {
				b.Leaders++
			}
			for _, r := range p.Replicas {
				if b := brokers[r]; b != nil {
					b.Replicas++
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
	}
	zones := map[string]bool{}
	for _, b := range brokers {
		st.Brokers = append(st.Brokers, *b)
		if b.Zone != "" && !zones[b.Zone] {
			zones[b.Zone] = true
			st.Zones = append(st.Zones, b.Zone)
		}
	}
	sort.Slice(st.Brokers, func(i, j int) bool { return st.Brokers[i].ID < st.Brokers[j].ID })
	sort.Strings(st.Zones)
	return st, nil
}

// parseVoterIDs reads the ids of controller.quorum.voters (id@host:port,...).
func parseVoterIDs(s string) []int32 {
	var ids []int32
	for _, v := range strings.Split(s, ",") {
		id, _, ok := strings.Cut(strings.TrimSpace(v), "@")
		if n, err := strconv.Atoi(id); ok && err == nil {
			ids = append(ids, int32(n))
		}
	}
	return ids
}

func renderStatus(w io.Writer, format string, st *clusterStatus) error {
	summary := &table{}
	summary.add("cluster", st.ClusterID)
	summary.add("active controller", strconv.Itoa(int(st.Controller)))
	summary.add("controllers", orDash(joinInt32s(st.Controllers)))
	summary.add("zones", fmt.Sprintf("%d (%s)", len(st.Zones), strings.Join(st.Zones, ", ")))
	up := 0
	for _, b := range st.Brokers {
		if b.Up {
			up++
		}
	}
	summary.add("brokers", fmt.Sprintf("%d up of %d", up, len(st.Brokers)))
	summary.add("partitions", fmt.Sprintf("%d in %d topics; %d under-replicated, %d offline", st.PartitionCount, st.Topics, st.UnderReplicated, st.Offline))
	bt := &table{header: []string{"BROKER", "ADDRESS", "ZONE", "STATE", "CONTROLLER", "LEADERS", "REPLICAS"}}
	for _, b := range st.Brokers {
		state := "up"
		if !b.Up {
			state = "down"
		}
		bt.add(strconv.Itoa(int(b.ID)), b.Address, orDash(b.Zone), state, orDash(b.Controller), strconv.Itoa(b.Leaders), strconv.Itoa(b.Replicas))
	}
	tables := []*table{summary, bt}
	if len(st.Partitions) > 0 {
		pt := &table{header: []string{"TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "STATE"}}
		for _, p := range st.Partitions {
			pt.add(p.Topic, strconv.Itoa(int(p.Partition)), strconv.Itoa(int(p.Leader)), strconv.Itoa(int(p.Epoch)), joinInt32s(p.Replicas), joinInt32s(p.ISR), p.State)
		}
		tables = append(tables, pt)
	}
	return render(w, format, st, tables...)
}
