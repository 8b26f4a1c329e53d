// Package herder is Kafka Connect's distributed mode for Sluice: workers
// keep connector configs, task configs and target states in the compacted
// topic connect-configs (one partition), source offsets in connect-offsets
// and statuses in connect-status, all with Kafka Connect's record keys and
// JSON values, and share the work through a Kafka group of protocol type
// "connect". Assignment is incremental and cooperative (as KIP-415): workers
// keep running what they own through a rebalance, the leader hands out what
// nobody runs, and overloaded workers give up their excess first; the eager
// protocol of earlier Sluice versions remains as a fallback.
package herder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/runtime"
)

// Config configures a Herder.
type Config struct {
	Seeds []string
	// WorkerID identifies this worker in statuses, usually its REST host:port.
	WorkerID string
	// URL is this worker's REST base URL.
	URL          string
	GroupID      string // default "connect-cluster"
	ConfigTopic  string // default "connect-configs"
	OffsetsTopic string // default "connect-offsets"
	StatusTopic  string // default "connect-status"
	Log          *slog.Logger
	// Loggers, when set, names the herder's and runtime's loggers (Log is
	// then unused) and takes cluster-wide level changes from connect-configs.
	Loggers        *runtime.Loggers
	Registerer     prometheus.Registerer
	HeartbeatEvery time.Duration // default 1s
}

// Status is a connector's or task's status record (connect-status value).
type Status struct {
	State      string  `json:"state"`
	Trace      *string `json:"trace"`
	WorkerID   string  `json:"worker_id"`
	Generation int32   `json:"generation"`
}

// Herder runs one worker of a Connect cluster.
type Herder struct {
	cfg Config
	log *slog.Logger
	cl  *kgo.Client // producer for configs, statuses, offsets, source records
	rt  *runtime.Runtime

	closeOnce sync.Once

	// writeMu serializes config writes made through this worker, so a
	// check (does the connector exist?) and its write are one step on the
	// leader, where the REST layer forwards every write.
	writeMu sync.Mutex

	started time.Time // cluster-scoped logger levels older than this are not applied

	mu          sync.Mutex
	state       *configState
	topics      map[string]map[string]TopicStatus // connector -> topic -> active-topic record
	topicKeys   map[string][2]string              // status key -> connector, topic
	topicsOwed  map[string]bool                   // connector+"\x00"+topic being written
	lastStates  map[string]string                 // status key -> state this worker last wrote
	running     map[string]string                 // item ("<c>" or "<c>-<n>") -> fingerprint it was started with
	restartSeen map[string]int                    // item -> restart request seq already applied
	configRead  int64                             // next config-topic offset to read
	statuses    map[string]Status
	generation  int32
	assigned    *Assignment
	isLeader    bool
	ready       bool
	readCond    chan struct{} // closed and replaced whenever configRead moves
	rebalanceCh chan struct{}
}

// New builds a herder; Run starts it.
func New(cfg Config) (*Herder, error) {
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("connect: no bootstrap servers")
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.GroupID, "connect-cluster")
	def(&cfg.ConfigTopic, "connect-configs")
	def(&cfg.OffsetsTopic, "connect-offsets")
	def(&cfg.StatusTopic, "connect-status")
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Loggers != nil {
		cfg.Log = cfg.Loggers.Logger(runtime.LoggerHerder)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Seeds...), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return nil, err
	}
	h := &Herder{cfg: cfg, log: cfg.Log, cl: cl, started: time.Now(), state: newConfigState(), statuses: map[string]Status{},
		topics: map[string]map[string]TopicStatus{}, topicKeys: map[string][2]string{}, topicsOwed: map[string]bool{},
		lastStates: map[string]string{}, running: map[string]string{}, restartSeen: map[string]int{}, readCond: make(chan struct{}), rebalanceCh: make(chan struct{}, 1)}
	h.rt = runtime.New(runtime.Config{Seeds: cfg.Seeds, Producer: cl, OffsetsTopic: cfg.OffsetsTopic, Log: cfg.Log, Loggers: cfg.Loggers,
		OnStatus: h.onStatus, OnTopics: h.onTopics, Registerer: cfg.Registerer})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newStateCollector(h)); err != nil {
			h.log.Warn("connect: registering state metrics", "err", err)
		}
	}
	return h, nil
}

// Close releases the Kafka client; Run calls it on return, and a herder
// that never ran must be closed by its owner. Safe to call more than once.
func (h *Herder) Close() {
	h.closeOnce.Do(h.cl.Close)
}

// Runtime is the worker's runtime (for tests and metrics).
func (h *Herder) Runtime() *runtime.Runtime { return h.rt }

// Ready reports whether the worker has read its state and joined the group.
func (h *Herder) Ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready {
		return errors.New("connect worker is starting")
	}
	return nil
}

// Run creates the internal topics if missing, reads them, and takes part
// in the group until ctx ends; then it stops every task and leaves.
func (h *Herder) Run(ctx context.Context) error {
	defer h.Close()
	defer h.rt.Close()
	if err := h.ensureTopics(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errc <- h.readConfigs(ctx) }()
	go func() { defer wg.Done(); errc <- h.readStatuses(ctx) }()
	err := h.member(ctx)
	cancel()
	wg.Wait()
	close(errc)
	for e := range errc {
		if err == nil && e != nil && !errors.Is(e, context.Canceled) {
			err = e
		}
	}
	return err
}

func (h *Herder) ensureTopics(ctx context.Context) error {
	adm := kadm.NewClient(h.cl)
	compact := map[string]*string{"cleanup.policy": strp("compact")}
	for _, t := range []struct {
		name  string
		parts int32
	}{{h.cfg.ConfigTopic, 1}, {h.cfg.OffsetsTopic, 5}, {h.cfg.StatusTopic, 5}} {
		for {
			resp, err := adm.CreateTopic(ctx, t.parts, -1, compact, t.name)
			if err == nil {
				err = resp.Err
			}
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			h.log.Warn("connect: creating internal topic", "topic", t.name, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func strp(s string) *string { return &s }

// consume tails topic from the start, calling fn for each record.
func (h *Herder) consume(ctx context.Context, topic string, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.cfg.Seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fs.EachError(func(t string, p int32, err error) {
			h.log.Warn("connect: reading internal topic", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(fn)
	}
}

func (h *Herder) readConfigs(ctx context.Context) error {
	return h.consume(ctx, h.cfg.ConfigTopic, func(r *kgo.Record) {
		if ns, ok := strings.CutPrefix(string(r.Key), loggerKeyPrefix); ok {
			h.applyClusterLogger(ns, r)
		}
		h.mu.Lock()
		changed := h.state.apply(string(r.Key), r.Value)
		h.configRead = r.Offset + 1
		close(h.readCond)
		h.readCond = make(chan struct{})
		leader := h.isLeader
		h.mu.Unlock()
		if changed && leader {
			h.requestRebalance()
		}
	})
}

func (h *Herder) requestRebalance() {
	select {
	case h.rebalanceCh <- struct{}{}:
	default:
	}
}

func (h *Herder) readStatuses(ctx context.Context) error {
	return h.consume(ctx, h.cfg.StatusTopic, func(r *kgo.Record) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if strings.HasPrefix(string(r.Key), topicStatusPrefix) {
			h.applyTopicRecord(string(r.Key), r.Value)
			return
		}
		if r.Value == nil {
			delete(h.statuses, string(r.Key))
			return
		}
		var s Status
		if json.Unmarshal(r.Value, &s) != nil {
			return
		}
		// As Kafka Connect: a late write from a worker of an older generation
		// does not overwrite what the current owner reported.
		if prev, ok := h.statuses[string(r.Key)]; ok && s.Generation < prev.Generation && s.WorkerID != prev.WorkerID {
			return
		}
		h.statuses[string(r.Key)] = s
	})
}

// waitConfig blocks until the config topic has been read up to offset.
func (h *Herder) waitConfig(ctx context.Context, offset int64) error {
	for {
		h.mu.Lock()
		read, ch := h.configRead, h.readCond
		h.mu.Unlock()
		if read >= offset {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// configEnd is the config topic's end offset now.
func (h *Herder) configEnd(ctx context.Context) (int64, error) {
	ends, err := kadm.NewClient(h.cl).ListEndOffsets(ctx, h.cfg.ConfigTopic)
	if err != nil {
		return 0, err
	}
	o, ok := ends.Lookup(h.cfg.ConfigTopic, 0)
	if !ok {
		return 0, fmt.Errorf("no end offset for %s", h.cfg.ConfigTopic)
	}
	return o.Offset, o.Err
}

// onStatus writes a status record for a connector (task -1) or task.
func (h *Herder) onStatus(connector string, task int, state, trace string) {
	key := "status-connector-" + connector
	if task >= 0 {
		key = "status-task-" + connector + "-" + strconv.Itoa(task)
	}
	h.mu.Lock()
	h.lastStates[key] = state
	h.mu.Unlock()
	h.writeStatus(key, state, trace)
}

func (h *Herder) writeStatus(key, state, trace string) {
	h.mu.Lock()
	gen := h.generation
	h.mu.Unlock()
	s := Status{State: state, WorkerID: h.cfg.WorkerID, Generation: gen}
	if trace != "" {
		s.Trace = &trace
	}
	v, _ := json.Marshal(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.cl.ProduceSync(ctx, &kgo.Record{Topic: h.cfg.StatusTopic, Key: []byte(key), Value: v}).FirstErr(); err != nil {
		h.log.Warn("connect: writing status", "key", key, "err", err)
	}
}

// writeConfig appends records to the config topic and waits until this
// worker has read them back, so a write is visible to the next read.
func (h *Herder) writeConfig(ctx context.Context, recs ...*kgo.Record) error {
	for _, r := range recs {
		r.Topic = h.cfg.ConfigTopic
		r.Partition = 0
	}
	res := h.cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("writing to %s: %w", h.cfg.ConfigTopic, err)
	}
	var last int64
	for _, r := range res {
		if r.Record.Offset > last {
			last = r.Record.Offset
		}
	}
	return h.waitConfig(ctx, last+1)
}

// apply brings this worker in line with its assignment: it stops what it
// no longer has, starts what is new, and restarts what changed (config,
// target state, task configs, a restart request) since it started it.
// What is unchanged keeps running, which is what makes a cooperative
// rebalance cheap.
func (h *Herder) apply(ctx context.Context, a *Assignment) {
	type job struct {
		id      runtime.TaskID // Task -1: the connector itself
		connCfg map[string]string
		cfg     map[string]string
		target  string
		fp      string
		restart bool
	}
	h.mu.Lock()
	st := h.state
	want := map[string]bool{}
	var jobs []job
	restartDue := func(key, name string, status string, forTask bool) bool {
		req, ok := st.restartReq[name]
		if !ok || req.seq <= h.restartSeen[key] {
			return false
		}
		h.restartSeen[key] = req.seq
		if forTask && !req.includeTasks {
			return false
		}
		return !req.onlyFailed || h.statuses[status].State == runtime.StateFailed
	}
	for _, n := range a.Connectors {
		c := st.connectors[n]
		if c == nil || c.config == nil {
			continue
		}
		want["connector:"+n] = true
		fp := fingerprint(c.config, nil, c.target)
		jobs = append(jobs, job{runtime.TaskID{Connector: n, Task: -1}, copyMap(c.config), nil, c.target, fp,
			restartDue(n, n, "status-connector-"+n, false)})
	}
	for _, t := range a.Tasks {
		name, n, ok := splitTaskKey(t)
		c := st.connectors[name]
		if !ok || c == nil || c.config == nil || n >= len(c.tasks) {
			continue
		}
		want["task:"+t] = true
		fp := fingerprint(c.config, c.tasks[n], c.target)
		jobs = append(jobs, job{runtime.TaskID{Connector: name, Task: n}, copyMap(c.config), copyMap(c.tasks[n]), c.target, fp,
			restartDue(t, name, "status-task-"+t, true)})
	}
	var drop []string
	for item := range h.running {
		if !want[item] {
			drop = append(drop, item)
			delete(h.running, item)
		}
	}
	h.mu.Unlock()

	// Revoked or gone: stop (tasks first, as Kafka Connect does).
	var stop []runtime.TaskID
	for _, key := range drop {
		if t, ok := strings.CutPrefix(key, "task:"); ok {
			if name, n, ok := splitTaskKey(t); ok {
				stop = append(stop, runtime.TaskID{Connector: name, Task: n})
			}
		}
	}
	h.rt.StopTasks(stop)
	for _, key := range drop {
		if c, ok := strings.CutPrefix(key, "connector:"); ok {
			h.rt.StopConnector(c)
		}
	}
	for _, j := range jobs {
		item, key := j.id.Connector, "connector:"+j.id.Connector
		if j.id.Task >= 0 {
			item = j.id.String()
			key = "task:" + item
		}
		h.mu.Lock()
		same := h.running[key] == j.fp
		h.running[key] = j.fp
		h.mu.Unlock()
		if same && !j.restart {
			continue
		}
		if j.id.Task < 0 {
			h.rt.StopConnector(item)
			switch j.target {
			case TargetPaused:
				h.onStatus(item, -1, runtime.StatePaused, "")
				continue
			case TargetStopped:
				h.onStatus(item, -1, runtime.StateStopped, "")
				continue
			}
			if err := h.rt.StartConnector(item, j.connCfg); err != nil {
				continue
			}
			h.refreshTasks(ctx, item, j.connCfg)
			continue
		}
		h.rt.StopTask(j.id)
		switch j.target {
		case TargetPaused:
			h.onStatus(j.id.Connector, j.id.Task, runtime.StatePaused, "")
		case TargetStopped:
			h.mu.Lock()
			h.lastStates["status-task-"+item] = runtime.StateStopped
			h.mu.Unlock()
		default:
			_ = h.rt.StartTask(j.id, j.connCfg, j.cfg)
		}
	}
}

// fingerprint identifies what an item was started with, so a change of
// any of it restarts the item.
func fingerprint(connCfg, taskCfg map[string]string, target string) string {
	b, _ := json.Marshal([]any{connCfg, taskCfg, target})
	return string(b)
}

// refreshTasks asks a running connector for task configs and writes them
// (task-<c>-<n> then commit-<c>) when they differ from the committed ones.
func (h *Herder) refreshTasks(ctx context.Context, name string, cfg map[string]string) {
	max, _ := strconv.Atoi(strings.TrimSpace(cfg["tasks.max"]))
	tcs, err := h.rt.TaskConfigs(name, max)
	if err != nil {
		h.onStatus(name, -1, runtime.StateFailed, err.Error())
		return
	}
	h.mu.Lock()
	var same bool
	if c := h.state.connectors[name]; c != nil && len(c.tasks) == len(tcs) {
		same = true
		for i := range tcs {
			if !equalMaps(tcs[i], c.tasks[i]) {
				same = false
			}
		}
	}
	h.mu.Unlock()
	if same {
		return
	}
	var recs []*kgo.Record
	for i, tc := range tcs {
		v, _ := json.Marshal(propsValue{Properties: tc})
		recs = append(recs, &kgo.Record{Key: []byte("task-" + name + "-" + strconv.Itoa(i)), Value: v})
	}
	v, _ := json.Marshal(commitValue{Tasks: len(tcs)})
	recs = append(recs, &kgo.Record{Key: []byte("commit-" + name), Value: v})
	if err := h.writeConfig(ctx, recs...); err != nil {
		h.log.Warn("connect: writing task configs", "connector", name, "err", err)
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// shutdown stops everything here and reports it UNASSIGNED, as a Kafka
// Connect worker leaving the cluster does.
func (h *Herder) shutdown() {
	tasks, conns := h.rt.Tasks(), h.rt.Connectors()
	h.stopAll()
	for _, id := range tasks {
		h.onStatus(id.Connector, id.Task, runtime.StateUnassigned, "")
	}
	for _, n := range conns {
		h.onStatus(n, -1, runtime.StateUnassigned, "")
	}
}

// stopAll stops every connector and task here (eager rebalance, lost
// membership, shutdown).
func (h *Herder) stopAll() {
	h.mu.Lock()
	clear(h.running)
	h.mu.Unlock()
	h.rt.StopTasks(h.rt.Tasks())
	for _, n := range h.rt.Connectors() {
		h.rt.StopConnector(n)
	}
}
