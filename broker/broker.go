// Package broker is Sluice's Kafka-compatible broker: it ties the partition
// logs (broker/storage), the metadata state machine (broker/metadata) and the
// Kafka protocol server (broker/kafka) into one node.
//
// The metadata is a Raft-replicated state machine (a single node is a
// quorum of one, running the same code); partitions with one replica move
// the high watermark to the log end on append, those with more follow
// Kafka's replication (replication.go leader side, fetcher.go follower
// side, cluster.go broker registration, fencing and leader election).
//
// Layout under Config.DataDir:
//
//	kafka/meta.properties         cluster.id and node.id
//	kafka/metadata/raft/          the metadata quorum's Raft log, term and snapshots
//	kafka/logs/<topic>-<n>/       partition logs (unless log.dirs says otherwise)
package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// Config configures a Broker.
type Config struct {
	DataDir        string
	Addr           string // Kafka listener, e.g. ":9092" or "127.0.0.1:0"
	AdvertisedAddr string // host:port published in Metadata; default: the bound address
	NodeID         int32
	Rack           string
	// Settings are broker configs by their Kafka names (from sluice.yaml),
	// e.g. "num.partitions": "3". See BrokerConfigSpecs.
	Settings   map[string]string
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics registered
}

// Broker is one Kafka-compatible node.
type Broker struct {
	cfg       Config
	observer  string // Raft address of a broker-only node, else ""
	log       *slog.Logger
	dir       string
	clusterID string
	advHost   string
	advPort   int32

	store   *storage.Manager
	quorum  *metadata.Quorum
	srv     *kafka.Server
	ln      net.Listener
	metrics *kafka.Metrics
	groups  *group.Coordinator

	// Lock order: pidMu, then metaMu, then mu (then a partition's hwMu).
	//
	// metaMu serializes metadata changes: check, persist, apply, and the
	// partition opening or deletion that follows.
	metaMu sync.Mutex
	// mu guards state (read by every request) and parts.
	mu    sync.RWMutex
	state *metadata.State
	parts map[storage.TopicPartition]*partition

	ctl controllerState
	cm  clusterMetrics // counters of ISR changes and elections (clustermetrics.go)
	rq  replicationQuota
	// gown is which __consumer_offsets partitions the group coordinator
	// has loaded, as their leader (groups.go).
	gown groupOwnership
	isrState
	fetchers   *fetchers
	reconcileC chan struct{}
	peers      *peers
	// epoch is this broker's registration epoch when New registered it in
	// process (it was the active controller), else -1.
	epoch int64

	pidMu            sync.Mutex
	pidNext, pidLast int64 // the reserved block [pidNext, pidLast)

	ready     atomic.Bool
	runCancel context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// partition is an open partition log with its single-node high watermark
// bookkeeping.
type partition struct {
	log  *storage.Log
	hwMu sync.Mutex   // makes "read log end, move HW" atomic among appenders
	lead *leaderState // while this node leads it; guarded by hwMu
}

// New opens the data directory, replays the metadata log, opens every
// partition and binds the listener, so Addr is known before Run.
func New(cfg Config) (*Broker, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("broker: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Addr == "" {
		cfg.Addr = ":9092"
	}
	if err := ValidateBrokerSettings(cfg.Settings); err != nil {
		return nil, fmt.Errorf("broker settings: %w", err)
	}
	if cfg.NodeID == 0 {
		// sluice.yaml's broker: map carries node.id (or broker.id).
		for _, k := range []string{"node.id", "broker.id"} {
			if v, err := strconv.Atoi(strings.TrimSpace(cfg.Settings[k])); err == nil {
				cfg.NodeID = int32(v)
				break
			}
		}
	}
	b := &Broker{
		cfg:        cfg,
		log:        cfg.Logger,
		dir:        filepath.Join(cfg.DataDir, "kafka"),
		parts:      map[storage.TopicPartition]*partition{},
		state:      metadata.New(),
		peers:      newPeers(cfg.NodeID),
		reconcileC: make(chan struct{}, 1),
		isrState:   isrState{isrPending: map[storage.TopicPartition]bool{}},
		epoch:      -1,
	}
	b.fetchers = newFetchers(b)
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if b.clusterID, err = b.loadMetaProperties(); err != nil {
		return nil, err
	}
	voters, err := metadata.ParseVoters(b.setting("controller.quorum.voters"))
	if err != nil {
		return nil, err
	}
	// A node outside the voters is a broker-only node (process.roles=broker):
	// it follows the metadata as a Raft non-voter once the controller added it.
	var joinVia []string
	if len(voters) > 0 && voters[cfg.NodeID] == "" {
		if strings.Contains(b.setting("process.roles"), "controller") {
			return nil, fmt.Errorf("node %d is not in controller.quorum.voters: set process.roles=broker for a broker-only node", cfg.NodeID)
		}
		b.observer = b.setting("metadata.observer.listener")
		joinVia = splitList(b.setting("controller.quorum.bootstrap.servers"))
		if b.observer == "" || len(joinVia) == 0 {
			return nil, errors.New("a broker-only node (process.roles=broker) needs metadata.observer.listener (its Raft address) and controller.quorum.bootstrap.servers (Kafka listeners of nodes to join through)")
		}
	}
	b.quorum, err = metadata.OpenQuorum(metadata.QuorumConfig{
		Dir:      filepath.Join(b.dir, "metadata", "raft"),
		NodeID:   cfg.NodeID,
		Voters:   voters,
		Observer: b.observer,
		Hooks:    (*metaHooks)(b),
		Logger:   b.log,
	})
	if err != nil {
		return nil, fmt.Errorf("metadata quorum: %w", err)
	}
	ml := b.quorum // closed on every failure below
	readyCtx, cancelReady := context.WithTimeout(context.Background(), metadataReadyTimeout)
	if b.observer != "" {
		err = b.joinQuorum(readyCtx, joinVia)
	} else {
		err = b.quorum.WaitReady(readyCtx)
	}
	if err == nil {
		b.mu.RLock()
		imported := b.state.LegacyImported()
		b.mu.RUnlock()
		err = b.quorum.ImportLegacyLog(readyCtx, filepath.Join(b.dir, "metadata", "metadata.log"), imported)
	}
	cancelReady()
	if err != nil {
		ml.Close()
		return nil, err
	}
	b.store, err = storage.Open(storage.ManagerConfig{
		Dir:                    b.logsDir(),
		Logger:                 b.log,
		RetentionCheckInterval: time.Duration(b.brokerInt("log.retention.check.interval.ms")) * time.Millisecond,
		CleanerBackoff:         time.Duration(b.brokerInt("log.cleaner.backoff.ms")) * time.Millisecond,
	})
	if err != nil {
		ml.Close()
		return nil, err
	}
	b.mu.Lock() // the quorum applies records meanwhile (a restarted follower)
	err = b.openPartitions()
	b.mu.Unlock()
	if err != nil {
		b.store.Close()
		ml.Close()
		return nil, err
	}
	b.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		b.store.Close()
		ml.Close()
		return nil, fmt.Errorf("kafka listener: %w", err)
	}
	if err := b.setAdvertised(); err != nil {
		b.ln.Close()
		b.store.Close()
		ml.Close()
		return nil, err
	}
	if b.quorum.IsLeader() {
		// The controller (a single node always) registers before serving,
		// so Metadata lists it from the first request.
		ctx, cancel := context.WithTimeout(context.Background(), metadataReadyTimeout)
		b.epoch, err = b.registerLocal(ctx)
		cancel()
		if err != nil {
			b.ln.Close()
			b.store.Close()
			ml.Close()
			return nil, fmt.Errorf("registering broker: %w", err)
		}
	}
	if b.metrics, err = kafka.NewMetrics(cfg.Registerer); err == nil && cfg.Registerer != nil {
		err = cfg.Registerer.Register(&logCollector{b: b})
		if err == nil {
			err = cfg.Registerer.Register(&clusterCollector{b: b})
		}
	}
	if err != nil {
		b.ln.Close()
		b.store.Close()
		ml.Close()
		return nil, fmt.Errorf("broker metrics: %w", err)
	}
	b.srv = kafka.NewServer(b.ln, b, kafka.ServerConfig{
		Logger:            b.log,
		MaxRequestBytes:   int32(b.brokerInt("socket.request.max.bytes")),
		IdleTimeout:       idleTimeout(b.brokerInt("connections.max.idle.ms")),
		FetchSessionSlots: int(b.brokerInt("max.incremental.fetch.session.cache.slots")),
		Metrics:           b.metrics,
	})
	if err := b.newCoordinator(); err != nil {
		b.ln.Close()
		b.store.Close()
		ml.Close()
		return nil, err
	}
	// Groups and committed offsets come back before the first request.
	if err := b.loadGroups(context.Background()); err != nil {
		b.ln.Close()
		b.store.Close()
		ml.Close()
		return nil, fmt.Errorf("loading consumer groups: %w", err)
	}
	return b, nil
}

// metadataReadyTimeout bounds the wait for the metadata quorum at start: a
// single node elects itself at once; several controllers need a majority up.
const metadataReadyTimeout = 2 * time.Minute

// metaHooks applies the quorum's committed records to the broker's State.
type metaHooks Broker

func (h *metaHooks) ApplyRecord(r metadata.Record) error {
	h.mu.Lock()
	err := (*Broker)(h).applyObserved(r) // state.Apply, counting ISR changes and elections
	h.mu.Unlock()
	if err == nil {
		select { // let reconcile open or drop this node's partitions
		case h.reconcileC <- struct{}{}:
		default:
		}
	}
	return err
}

func (h *metaHooks) SnapshotState() ([]byte, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.state.Snapshot()
}

func (h *metaHooks) RestoreState(data []byte) error {
	st, err := metadata.Restore(data)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.state = st
	h.mu.Unlock()
	return nil
}

// openPartitions opens the log of every partition in the metadata and
// removes partition directories of topics that no longer exist (a deletion
// interrupted by a crash).
func (b *Broker) openPartitions() error {
	want := map[storage.TopicPartition]bool{}
	dyn := b.state.BrokerConfigs() // the caller holds mu: not logConfig, which takes it
	for _, t := range b.state.Topics() {
		cfg := b.logConfigFrom(dyn, t.Configs)
		for _, p := range t.Partitions {
			if !b.isReplica(p) {
				continue
			}
			tp := storage.TopicPartition{Topic: t.Name, Partition: p.ID}
			want[tp] = true
			if err := b.openPartitionLocked(tp, cfg); err != nil {
				return err
			}
		}
	}
	onDisk, err := b.store.OnDisk()
	if err != nil {
		return err
	}
	for _, tp := range onDisk {
		if !want[tp] {
			b.log.Info("removing data of a deleted partition", "topic", tp.Topic, "partition", tp.Partition)
			if err := b.store.DeletePartition(tp.Topic, tp.Partition); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Broker) openPartitionLocked(tp storage.TopicPartition, cfg storage.LogConfig) error {
	if b.parts[tp] != nil {
		return nil // opened already (by the caller of a change or by reconcile)
	}
	l, err := b.store.OpenPartition(tp.Topic, tp.Partition, cfg)
	if err != nil {
		return fmt.Errorf("opening %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	// One replica: everything in the log is replicated to all (one)
	// replicas. With more, the checkpointed high watermark stands until the
	// followers report.
	if t, ok := b.state.Topic(tp.Topic); !ok || int(tp.Partition) >= len(t.Partitions) || len(t.Partitions[tp.Partition].Replicas) <= 1 {
		l.SetHighWatermark(l.LogEndOffset())
	}
	b.parts[tp] = &partition{log: l}
	return nil
}

func (b *Broker) loadMetaProperties() (string, error) {
	path := filepath.Join(b.dir, "meta.properties")
	data, err := os.ReadFile(path)
	if err == nil {
		props := map[string]string{}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				props[k] = v
			}
		}
		if props["node.id"] != strconv.Itoa(int(b.cfg.NodeID)) {
			return "", fmt.Errorf("data dir %s belongs to node %s, not %d", b.cfg.DataDir, props["node.id"], b.cfg.NodeID)
		}
		if props["cluster.id"] == "" {
			return "", fmt.Errorf("%s has no cluster.id", path)
		}
		if want := strings.TrimSpace(b.cfg.Settings["cluster.id"]); want != "" && want != props["cluster.id"] {
			return "", fmt.Errorf("data dir %s belongs to cluster %s, not %s", b.cfg.DataDir, props["cluster.id"], want)
		}
		return props["cluster.id"], nil
	}
	if !os.IsNotExist(err) {
		return "", err
	}
	cid := strings.TrimSpace(b.cfg.Settings["cluster.id"])
	if cid == "" {
		if voters, _ := metadata.ParseVoters(b.cfg.Settings["controller.quorum.voters"]); len(voters) > 1 {
			// Like kafka-storage format -t: every node of a cluster must be
			// given the same id before its first start.
			return "", errors.New("controller.quorum.voters lists several voters: set cluster.id, the same on every node")
		}
		var id [16]byte
		rand.Read(id[:])
		cid = base64.RawURLEncoding.EncodeToString(id[:])
	}
	content := fmt.Sprintf("version=1\ncluster.id=%s\nnode.id=%d\n", cid, b.cfg.NodeID)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return cid, nil
}

// logsDir is log.dirs (the first, as one node has one log directory) or
// <data_dir>/kafka/logs.
func (b *Broker) logsDir() string {
	if v := strings.TrimSpace(b.cfg.Settings["log.dirs"]); v != "" {
		first, _, _ := strings.Cut(v, ",")
		return strings.TrimSpace(first)
	}
	return filepath.Join(b.dir, "logs")
}

func (b *Broker) setAdvertised() error {
	adv := b.cfg.AdvertisedAddr
	if adv == "" {
		adv = b.setting("advertised.listeners")
		if i := strings.Index(adv, "://"); i >= 0 {
			adv = adv[i+3:]
		}
		adv, _, _ = strings.Cut(adv, ",")
	}
	bound := b.ln.Addr().(*net.TCPAddr)
	host, port := "", bound.Port
	if adv != "" {
		h, p, err := net.SplitHostPort(adv)
		if err != nil {
			return fmt.Errorf("advertised address %q: %w", adv, err)
		}
		host = h
		if p != "" && p != "0" {
			if port, err = strconv.Atoi(p); err != nil {
				return fmt.Errorf("advertised address %q: %w", adv, err)
			}
		}
	}
	if host == "" {
		if bound.IP.IsUnspecified() {
			host = "127.0.0.1" // as sluice.yaml documents: set advertised_addr for remote clients
		} else {
			host = bound.IP.String()
		}
	}
	b.advHost, b.advPort = host, int32(port)
	return nil
}

// Addr is the address the Kafka listener is bound to.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// Run serves the Kafka protocol and runs the storage background work
// (retention, compaction, time-based flushes) until ctx ends or Close.
func (b *Broker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.mu.Lock()
	b.runCancel = cancel
	b.mu.Unlock()
	errc := make(chan error, 8)
	b.wg.Add(8)
	go func() {
		defer b.wg.Done()
		b.runISRShrink(ctx)
	}()
	go func() {
		defer b.wg.Done()
		b.fetchers.run(ctx)
	}()
	go func() {
		defer b.wg.Done()
		b.runReconcile(ctx)
	}()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.runClusterTasks(ctx) // reassignments, automatic leader rebalance (reassign.go)
	}()
	go func() {
		defer b.wg.Done()
		if err := b.runController(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("controller: %w", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		if err := b.runLifecycle(ctx, b.epoch); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("broker lifecycle: %w", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		if err := b.runGroups(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("group coordinator: %w", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		if err := b.store.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("storage: %w", err)
		}
	}()
	go func() {
		defer b.wg.Done()
		if err := b.srv.Serve(ctx); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("kafka server: %w", err)
		}
	}()
	b.ready.Store(true)
	b.log.Info("kafka listener serving", "addr", b.ln.Addr().String(), "advertised", net.JoinHostPort(b.advHost, strconv.Itoa(int(b.advPort))), "cluster_id", b.clusterID, "node_id", b.cfg.NodeID)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	b.ready.Store(false)
	cancel()
	b.wg.Wait()
	return err
}

// Ready reports nil once the broker serves requests.
func (b *Broker) Ready() error {
	if !b.ready.Load() {
		return errors.New("broker not serving")
	}
	return nil
}

// Close stops Run (if running), closes the listener, every connection, the
// partition logs and the metadata log.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.ready.Store(false)
		b.mu.Lock()
		cancel := b.runCancel
		b.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		b.srv.Close()
		b.wg.Wait()
		b.peers.closeAll()
		b.closeErr = errors.Join(b.store.Close(), b.quorum.Close())
	})
	return b.closeErr
}

// closeConnections cuts every client connection (tests).
func (b *Broker) closeConnections() { b.srv.CloseConns() }

// RegisterAPIs adds API handlers implemented outside broker/kafka (the group
// coordinator's); call it before Run. ApiVersions advertises them too.
func (b *Broker) RegisterAPIs(apis ...kafka.ExtraAPI) error {
	if b.ready.Load() {
		return errors.New("broker: RegisterAPIs after Run")
	}
	b.srv.AddAPIs(apis...)
	return nil
}

// idleTimeout maps connections.max.idle.ms to the server's setting (-1: never).
func idleTimeout(ms int64) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}
