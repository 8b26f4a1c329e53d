package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KV is one __consumer_offsets record. A nil Value is a tombstone.
type KV struct{ Key, Value []byte }

// Store holds the coordinator's state: the partitions of the compacted
// __consumer_offsets topic. The Coordinator calls Append concurrently, also
// for the same partition (for different groups), but never concurrently for
// the same group, and it does not keep or modify the slices it passes.
type Store interface {
	// Append durably appends recs, in order, to partition p of
	// __consumer_offsets and returns once they are written. An error means
	// none should be considered written; a *kerr.Error is mapped to the
	// client's error as Kafka maps it, anything else to COORDINATOR_NOT_AVAILABLE.
	Append(ctx context.Context, partition int32, recs []KV) error
	// Replay calls fn for every record of partition p in offset order
	// (value nil for tombstones). fn does not keep the slices.
	Replay(ctx context.Context, partition int32, fn func(key, value []byte) error) error
}

// Defaults are Kafka's broker defaults.
const (
	DefaultPartitions            = 50
	DefaultInitialRebalanceDelay = 3 * time.Second
	DefaultMinSessionTimeout     = 6 * time.Second
	DefaultMaxSessionTimeout     = 30 * time.Minute
	DefaultOffsetsRetention      = 7 * 24 * time.Hour
	DefaultRetentionCheck        = 10 * time.Minute
	DefaultMaxMetadataBytes      = 4096
)

// Config configures a Coordinator. Zero values take Kafka's defaults, except
// InitialRebalanceDelay, where zero means no delay (set
// DefaultInitialRebalanceDelay for Kafka's 3s).
type Config struct {
	Store      Store
	Partitions int32 // offsets.topic.num.partitions (default 50)
	Logger     *slog.Logger
	Now        func() time.Time

	InitialRebalanceDelay                time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout, MaxSessionTimeout time.Duration // group.min/max.session.timeout.ms (6s / 30min)
	OffsetsRetention                     time.Duration // offsets.retention.minutes (7 days)
	OffsetsRetentionCheck                time.Duration // offsets.retention.check.interval.ms (10 min)
	MaxMetadataBytes                     int           // offset.metadata.max.bytes (4096)
	// TickInterval is how often Run checks session and rebalance deadlines
	// (default 100ms); it bounds how late a timeout fires.
	TickInterval time.Duration

	// PartitionExists, when set, rejects commits for unknown partitions with
	// UNKNOWN_TOPIC_OR_PARTITION, as Kafka checks its metadata cache.
	PartitionExists func(topic string, partition int32) bool
	// TopicName and TopicID map topic IDs for OffsetCommit and OffsetFetch
	// v10+; without them those versions answer UNKNOWN_TOPIC_ID.
	TopicName func(id [16]byte) (string, bool)
	TopicID   func(name string) ([16]byte, bool)

	Registerer prometheus.Registerer // optional
}

// Coordinator is the group coordinator for every group of this node.
type Coordinator struct {
	cfg    Config
	p      params
	log    *slog.Logger
	now    func() time.Time
	loaded atomic.Bool
	m      *metrics

	mu     sync.Mutex // guards groups (the map, not the groups)
	groups map[string]*group
}

// New returns a Coordinator; call Load before serving and Run to drive timers.
func New(cfg Config) *Coordinator {
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = DefaultOffsetsRetention
	}
	if cfg.OffsetsRetentionCheck <= 0 {
		cfg.OffsetsRetentionCheck = DefaultRetentionCheck
	}
	if cfg.MaxMetadataBytes <= 0 {
		cfg.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	c := &Coordinator{
		cfg: cfg,
		p: params{
			minSession:   cfg.MinSessionTimeout,
			maxSession:   cfg.MaxSessionTimeout,
			initialDelay: cfg.InitialRebalanceDelay,
		},
		log:    cfg.Logger,
		now:    cfg.Now,
		groups: map[string]*group{},
	}
	c.m = newMetrics(c, cfg.Registerer)
	return c
}

// PartitionFor is the __consumer_offsets partition holding group, as Kafka
// computes it: abs(javaStringHashCode(group)) % partitions.
func (c *Coordinator) PartitionFor(group string) int32 { return partitionFor(group, c.cfg.Partitions) }

// Partitions is the number of __consumer_offsets partitions.
func (c *Coordinator) Partitions() int32 { return c.cfg.Partitions }

// Ready reports whether Load has completed; until then every handler answers
// COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) Ready() bool { return c.loaded.Load() }

// lockedState is the Coordinator's side of a group: its lock and the
// requests waiting on it.
type lockedState struct {
	mu    sync.Mutex
	joinW map[string]chan joinResult
	syncW map[string]chan syncResult
}

func newLockedState() lockedState {
	return lockedState{joinW: map[string]chan joinResult{}, syncW: map[string]chan syncResult{}}
}

// lockGroup returns the group locked, creating it (Empty) if asked; nil if
// it does not exist. Dead groups count as absent.
func (c *Coordinator) lockGroup(id string, create bool) *group {
	for {
		c.mu.Lock()
		g := c.groups[id]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			g = newGroup(id, &c.p, c.now())
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != stateDead {
			return g
		}
		g.mu.Unlock()
		c.forget(g)
	}
}

// unlock finishes an operation on g: it drops g from the map if it died.
func (c *Coordinator) unlock(g *group) {
	dead := g.state == stateDead
	g.mu.Unlock()
	if dead {
		c.forget(g)
	}
}

func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	return gs
}

// storeCode maps a Store error to the code Kafka's storeGroup answers.
func storeCode(err error, commit bool) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	case kerr.RequestTimedOut:
		if commit {
			return ke.Code
		}
		return kerr.RebalanceInProgress.Code
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		if commit {
			return kerr.InvalidCommitOffsetSize.Code
		}
		return kerr.UnknownServerError.Code
	}
	return ke.Code
}

// apply runs a pending store (if any) and then flushes g's effects. Called
// with g locked.
func (c *Coordinator) apply(ctx context.Context, g *group, st *pendingStore) {
	if st != nil {
		err := c.cfg.Store.Append(ctx, c.PartitionFor(g.id), []KV{st.rec})
		if err != nil {
			c.log.Warn("storing group metadata", "group", g.id, "err", err)
		}
		st.done(c.now(), storeCode(err, false))
	}
	c.flush(ctx, g)
}

// flush appends best-effort records and answers waiting requests.
func (c *Coordinator) flush(ctx context.Context, g *group) {
	fx := g.fx
	g.fx = effects{}
	if len(fx.records) > 0 {
		if err := c.cfg.Store.Append(ctx, c.PartitionFor(g.id), fx.records); err != nil {
			// Kafka only warns here too: an empty generation that is lost on
			// a crash is harmless.
			c.log.Warn("storing group state", "group", g.id, "err", err)
		}
	}
	for _, d := range fx.joins {
		if ch, ok := g.joinW[d.memberID]; ok {
			delete(g.joinW, d.memberID)
			ch <- d.res
		}
	}
	for _, d := range fx.syncs {
		if ch, ok := g.syncW[d.memberID]; ok {
			delete(g.syncW, d.memberID)
			ch <- d.res
		}
	}
	if fx.rebalances > 0 {
		c.log.Debug("preparing rebalance", "group", g.id, "generation", g.generation, "members", len(g.members))
	}
	if fx.stabilized {
		c.log.Info("group joined", "group", g.id, "generation", g.generation, "protocol", g.protocol, "members", len(g.members), "leader", g.leader)
	}
	if fx.expired > 0 {
		c.log.Info("removed expired group members", "group", g.id, "count", fx.expired)
	}
	c.m.rebalances.Add(float64(fx.rebalances))
	c.m.expirations.Add(float64(fx.expired))
}

// Load replays every __consumer_offsets partition: the latest group
// metadata and offsets of each group come back, as after a Kafka restart.
func (c *Coordinator) Load(ctx context.Context) error {
	now := c.now()
	for p := int32(0); p < c.cfg.Partitions; p++ {
		if err := c.loadPartition(ctx, p, now); err != nil {
			return err
		}
	}
	c.loaded.Store(true)
	c.log.Info("group coordinator loaded", "groups", len(c.snapshot()))
	return nil
}

// loadPartition replays one __consumer_offsets partition into the groups
// it holds, replacing what is in memory of them.
func (c *Coordinator) loadPartition(ctx context.Context, p int32, now time.Time) error {
	metas := map[string]*kmsg.GroupMetadataValue{}
	offs := map[string]map[tp]committed{}
	var order []string
	seen := map[string]bool{}
	note := func(g string) {
		if !seen[g] {
			seen[g] = true
			order = append(order, g)
		}
	}
	err := c.cfg.Store.Replay(ctx, p, func(key, value []byte) error {
		switch keyKind(key) {
		case kindOffset:
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(key); err != nil {
				c.log.Warn("skipping undecodable offset key", "partition", p, "err", err)
				return nil
			}
			note(k.Group)
			t := tp{k.Topic, k.Partition}
			if value == nil {
				if m := offs[k.Group]; m != nil {
					delete(m, t)
				}
				return nil
			}
			o, err := decodeOffsetValue(value)
			if err != nil {
				c.log.Warn("skipping undecodable offset value", "group", k.Group, "err", err)
				return nil
			}
			if offs[k.Group] == nil {
				offs[k.Group] = map[tp]committed{}
			}
			offs[k.Group][t] = o
		case kindGroup:
			var k kmsg.GroupMetadataKey
			if err := k.ReadFrom(key); err != nil {
				c.log.Warn("skipping undecodable group key", "partition", p, "err", err)
				return nil
			}
			note(k.Group)
			if value == nil {
				delete(metas, k.Group)
				return nil
			}
			v := new(kmsg.GroupMetadataValue)
			// Decoded byte fields alias their input; the Store may reuse it.
			if err := v.ReadFrom(append([]byte(nil), value...)); err != nil {
				c.log.Warn("skipping undecodable group value", "group", k.Group, "err", err)
				return nil
			}
			metas[k.Group] = v
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replaying %s-%d: %w", OffsetsTopic, p, err)
	}
	c.mu.Lock()
	for _, id := range order {
		meta, o := metas[id], offs[id]
		if meta == nil && len(o) == 0 {
			delete(c.groups, id)
			continue
		}
		g := newGroup(id, &c.p, now)
		if meta != nil {
			g.loadMetadata(meta, now)
		}
		for t, v := range o {
			g.offsets[t] = v
		}
		c.groups[id] = g
	}
	c.mu.Unlock()
	return nil
}

// Run drives session, rebalance and offset-retention timers until ctx is done.
func (c *Coordinator) Run(ctx context.Context) error {
	tick := time.NewTicker(c.cfg.TickInterval)
	defer tick.Stop()
	nextExpiry := c.now().Add(c.cfg.OffsetsRetentionCheck)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := c.now()
		c.tick(ctx, now)
		if !now.Before(nextExpiry) {
			c.expireOffsets(ctx, now)
			nextExpiry = now.Add(c.cfg.OffsetsRetentionCheck)
		}
	}
}

func (c *Coordinator) tick(ctx context.Context, now time.Time) {
	for _, g := range c.snapshot() {
		g.mu.Lock()
		g.tick(now)
		c.flush(ctx, g)
		c.unlock(g)
	}
}

func (c *Coordinator) expireOffsets(ctx context.Context, now time.Time) {
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.state != stateDead {
			c.appendOrLog(ctx, g, g.dropOffsets(now, g.expiredOffsets(now, c.cfg.OffsetsRetention)))
		}
		c.unlock(g)
	}
}

func (c *Coordinator) appendOrLog(ctx context.Context, g *group, recs []KV) {
	if len(recs) == 0 {
		return
	}
	if err := c.cfg.Store.Append(ctx, c.PartitionFor(g.id), recs); err != nil {
		c.log.Warn("writing group tombstones", "group", g.id, "err", err)
	}
}

// newMemberID is Kafka's clientId-UUID (instanceId-UUID for static members).
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
