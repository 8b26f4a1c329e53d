package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/storage"
)

// The group coordinator (broker/group) keeps its state in __consumer_offsets.
// As in Kafka, that topic is created on first use (the first FindCoordinator
// or group request), so a broker that never sees a consumer group carries no
// fifty empty partitions.

// newCoordinator builds the group coordinator from the broker settings and
// registers the group APIs and FindCoordinator with the protocol server.
func (b *Broker) newCoordinator() error {
	ms := func(name string) time.Duration { return time.Duration(b.brokerInt(name)) * time.Millisecond }
	b.groups = group.New(group.Config{
		Store:                 lazyOffsetsStore{b},
		Partitions:            int32(b.brokerInt("offsets.topic.num.partitions")),
		Logger:                b.log.With("component", "group-coordinator"),
		InitialRebalanceDelay: ms("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:     ms("group.min.session.timeout.ms"),
		MaxSessionTimeout:     ms("group.max.session.timeout.ms"),
		OffsetsRetention:      time.Duration(b.brokerInt("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheck: ms("offsets.retention.check.interval.ms"),
		MaxMetadataBytes:      int(b.brokerInt("offset.metadata.max.bytes")),
		PartitionExists: func(topic string, p int32) bool {
			t, ok := b.Topic(topic)
			return ok && p >= 0 && int(p) < len(t.Partitions)
		},
		TopicName: func(id [16]byte) (string, bool) {
			t, ok := b.TopicByID(id)
			if !ok {
				return "", false
			}
			return t.Name, true
		},
		TopicID: func(name string) ([16]byte, bool) {
			t, ok := b.Topic(name)
			if !ok {
				return [16]byte{}, false
			}
			return t.ID, true
		},
		Registerer: b.cfg.Registerer,
	})
	apis := []kafka.ExtraAPI{{
		Key: kmsg.FindCoordinator, Min: 0, Max: (&kmsg.FindCoordinatorRequest{}).MaxVersion(),
		Handle: b.handleFindCoordinator,
	}}
	for key, max := range group.MaxVersions {
		apis = append(apis, kafka.ExtraAPI{Key: key, Min: 0, Max: max, Handle: b.groupHandler(key)})
	}
	b.srv.AddAPIs(apis...)
	if b.cfg.Registerer != nil {
		if err := b.cfg.Registerer.Register(&lagCollector{b: b}); err != nil {
			return fmt.Errorf("group lag metrics: %w", err)
		}
	}
	return nil
}

// groupHandler adapts one coordinator method to the protocol server.
func (b *Broker) groupHandler(key kmsg.Key) func(context.Context, kafka.ClientInfo, kmsg.Request) (kmsg.Response, error) {
	return func(ctx context.Context, ci kafka.ClientInfo, req kmsg.Request) (kmsg.Response, error) {
		ctx = group.WithClient(ctx, ci.ClientID, ci.Host)
		if resp := b.notCoordinator(ctx, req); resp != nil {
			return resp, nil
		}
		resp, err := b.handleGroupRequest(ctx, key, req)
		if err == nil {
			b.markNotCoordinated(ctx, resp)
		}
		return resp, err
	}
}

// handleGroupRequest hands req to the coordinator.
func (b *Broker) handleGroupRequest(ctx context.Context, key kmsg.Key, req kmsg.Request) (kmsg.Response, error) {
	{
		c := b.groups
		switch r := req.(type) {
		case *kmsg.JoinGroupRequest:
			return c.JoinGroup(ctx, r), nil
		case *kmsg.SyncGroupRequest:
			return c.SyncGroup(ctx, r), nil
		case *kmsg.HeartbeatRequest:
			return c.Heartbeat(ctx, r), nil
		case *kmsg.LeaveGroupRequest:
			return c.LeaveGroup(ctx, r), nil
		case *kmsg.OffsetCommitRequest:
			return c.OffsetCommit(ctx, r), nil
		case *kmsg.OffsetFetchRequest:
			return c.OffsetFetch(ctx, r), nil
		case *kmsg.OffsetDeleteRequest:
			return c.OffsetDelete(ctx, r), nil
		case *kmsg.ListGroupsRequest:
			return c.ListGroups(ctx, r), nil
		case *kmsg.DescribeGroupsRequest:
			return c.DescribeGroups(ctx, r), nil
		case *kmsg.DeleteGroupsRequest:
			return c.DeleteGroups(ctx, r), nil
		}
		return nil, fmt.Errorf("group API %s has no handler", key.Name())
	}
}

// handleFindCoordinator answers FindCoordinator v0-6: a group's coordinator
// is the leader of its __consumer_offsets partition. Transaction coordinator
// lookups get COORDINATOR_NOT_AVAILABLE with a message: the broker does not
// run transactions (no issue has asked for them yet).
func (b *Broker) handleFindCoordinator(ctx context.Context, _ kafka.ClientInfo, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	ensureErr := error(nil)
	if req.CoordinatorType == 0 {
		ensureErr = b.EnsureOffsetsTopic(ctx)
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Host, c.Port = -1, "", -1
		switch {
		case req.CoordinatorType != 0:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			msg := "transactions are not supported by this broker yet"
			c.ErrorMessage = &msg
		case ensureErr != nil:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			msg := ensureErr.Error()
			c.ErrorMessage = &msg
		case !b.groups.Ready():
			c.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		default:
			c.NodeID, c.Host, c.Port, c.ErrorCode = b.coordinatorFor(ctx, key)
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp, nil
}

// lazyOffsetsStore is the coordinator's Store: appends create
// __consumer_offsets on first use, and replaying a topic that does not exist
// yet finds nothing.
type lazyOffsetsStore struct{ b *Broker }

func (s lazyOffsetsStore) Append(ctx context.Context, partition int32, recs []group.KV) error {
	if err := s.b.EnsureOffsetsTopic(ctx); err != nil {
		return fmt.Errorf("%w: creating %s: %v", kerr.CoordinatorNotAvailable, offsetsTopic, err)
	}
	return s.b.OffsetsStore().Append(ctx, partition, recs)
}

func (s lazyOffsetsStore) Replay(ctx context.Context, partition int32, fn func(key, value []byte) error) error {
	if _, ok := s.b.Topic(offsetsTopic); !ok {
		return nil
	}
	err := s.b.OffsetsStore().Replay(ctx, partition, fn)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil
	}
	return err
}

// lagCollector reports each group's consumer lag per partition at scrape
// time: the high watermark minus the committed offset.
type lagCollector struct{ b *Broker }

var lagDesc = prometheus.NewDesc("sluice_group_lag",
	"Records between a consumer group's committed offset and the partition's high watermark.",
	[]string{"group", "topic", "partition"}, nil)

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	if c.b.groups == nil || !c.b.groups.Ready() {
		return
	}
	resp := c.b.groups.ListGroups(context.Background(), kmsg.NewPtrListGroupsRequest())
	for _, g := range resp.Groups {
		for topic, parts := range c.b.groups.CommittedOffsets(g.Group) {
			for p, committed := range parts {
				l := c.b.Log(topic, p)
				if l == nil {
					continue
				}
				lag := l.HighWatermark() - committed
				if lag < 0 {
					lag = 0
				}
				ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag),
					g.Group, topic, fmt.Sprint(p))
			}
		}
	}
}

// groupOwnership is which __consumer_offsets partitions this node's group
// coordinator has loaded: those it leads, at the leader epoch it loaded
// them at. A partition whose leadership arrives is loaded (its groups and
// committed offsets replayed), one whose leadership leaves is unloaded, as
// Kafka's coordinator does on becoming leader or follower of a partition.
type groupOwnership struct {
	syncMu sync.Mutex // one sync at a time
	mu     sync.RWMutex
	owned  map[int32]int32 // partition -> leader epoch it was loaded at
}

// ledOffsetsPartitions is the __consumer_offsets partitions this node leads
// (with an open log), with their leader epochs.
func (b *Broker) ledOffsetsPartitions() map[int32]int32 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := map[int32]int32{}
	t, ok := b.state.Topic(offsetsTopic)
	if !ok {
		return out
	}
	for _, p := range t.Partitions {
		if p.Leader == b.cfg.NodeID && b.parts[storage.TopicPartition{Topic: offsetsTopic, Partition: p.ID}] != nil {
			out[p.ID] = p.LeaderEpoch
		}
	}
	return out
}

// loadGroups loads every group of the partitions this node leads, before
// the first request.
func (b *Broker) loadGroups(ctx context.Context) error {
	led := b.ledOffsetsPartitions()
	if err := b.groups.Load(ctx); err != nil {
		return err
	}
	b.gown.mu.Lock()
	b.gown.owned = led
	b.gown.mu.Unlock()
	return nil
}

// runGroups drives the coordinator's timers and follows the leadership of
// the __consumer_offsets partitions.
func (b *Broker) runGroups(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- b.groups.Run(ctx) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			b.syncGroupOwnership(ctx)
		}
	}
}

// syncGroupOwnership unloads the partitions this node no longer leads (or
// leads under a new epoch) and loads those it leads.
func (b *Broker) syncGroupOwnership(ctx context.Context) {
	b.gown.syncMu.Lock()
	defer b.gown.syncMu.Unlock()
	led := b.ledOffsetsPartitions()
	b.gown.mu.RLock()
	owned := maps.Clone(b.gown.owned)
	b.gown.mu.RUnlock()
	for p, epoch := range owned {
		if e, ok := led[p]; !ok || e != epoch {
			b.gown.mu.Lock()
			delete(b.gown.owned, p)
			b.gown.mu.Unlock()
			b.groups.UnloadPartition(p)
		}
	}
	for p, epoch := range led {
		if e, ok := owned[p]; ok && e == epoch {
			continue
		}
		if err := b.groups.LoadPartition(ctx, p); err != nil {
			if ctx.Err() == nil {
				b.log.Warn("loading consumer groups", "partition", p, "err", err)
			}
			continue
		}
		b.gown.mu.Lock()
		if b.gown.owned == nil {
			b.gown.owned = map[int32]int32{}
		}
		b.gown.owned[p] = epoch
		b.gown.mu.Unlock()
	}
}

// groupErr is the error code for a request about group on this node: 0 if
// this node coordinates it (or __consumer_offsets does not exist yet: the
// first write creates it), NOT_COORDINATOR if another node leads its
// partition, COORDINATOR_LOAD_IN_PROGRESS while its groups are loading.
func (b *Broker) groupErr(ctx context.Context, group string) int16 {
	p := b.groups.PartitionFor(group)
	b.mu.RLock()
	t, ok := b.state.Topic(offsetsTopic)
	var leader, epoch int32 = -1, -1
	if ok && int(p) < len(t.Partitions) {
		leader, epoch = t.Partitions[p].Leader, t.Partitions[p].LeaderEpoch
	}
	b.mu.RUnlock()
	switch {
	case !ok:
		return 0
	case leader != b.cfg.NodeID:
		return kerr.NotCoordinator.Code
	}
	owns := func() bool {
		b.gown.mu.RLock()
		defer b.gown.mu.RUnlock()
		e, ok := b.gown.owned[p]
		return ok && e == epoch
	}
	if !owns() {
		b.syncGroupOwnership(ctx) // leadership just arrived: load now
		if !owns() {
			return kerr.CoordinatorLoadInProgress.Code
		}
	}
	return 0
}

// coordinatorFor answers FindCoordinator for one group: the leader of its
// __consumer_offsets partition.
func (b *Broker) coordinatorFor(ctx context.Context, group string) (int32, string, int32, int16) {
	p := b.groups.PartitionFor(group)
	b.mu.RLock()
	t, ok := b.state.Topic(offsetsTopic)
	leader := int32(-1)
	if ok && int(p) < len(t.Partitions) {
		leader = t.Partitions[p].Leader
	}
	info, registered := b.state.Broker(leader)
	b.mu.RUnlock()
	switch {
	case leader < 0 || (leader != b.cfg.NodeID && (!registered || info.Fenced)):
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code
	case leader != b.cfg.NodeID:
		return leader, info.Host, info.Port, 0
	}
	if code := b.groupErr(ctx, group); code != 0 {
		return -1, "", -1, code
	}
	host, port := b.Advertised()
	return b.cfg.NodeID, host, port, 0
}

// notCoordinator answers a request about one group this node does not
// coordinate (nil: it does, or the request names several groups).
func (b *Broker) notCoordinator(ctx context.Context, req kmsg.Request) kmsg.Response {
	var g string
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		g = r.Group
	case *kmsg.SyncGroupRequest:
		g = r.Group
	case *kmsg.HeartbeatRequest:
		g = r.Group
	case *kmsg.LeaveGroupRequest:
		g = r.Group
	case *kmsg.OffsetCommitRequest:
		g = r.Group
	case *kmsg.OffsetDeleteRequest:
		g = r.Group
	case *kmsg.OffsetFetchRequest:
		if r.Version >= 8 {
			return nil
		}
		g = r.Group
	default:
		return nil
	}
	code := b.groupErr(ctx, g)
	if code == 0 {
		return nil
	}
	resp := req.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode, r.Generation = code, -1
		r.MemberID = req.(*kmsg.JoinGroupRequest).MemberID
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = code
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = code
	case *kmsg.OffsetDeleteResponse:
		r.ErrorCode = code
	case *kmsg.OffsetFetchResponse:
		r.ErrorCode = code
		for _, t := range req.(*kmsg.OffsetFetchRequest).Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.OffsetCommitResponse:
		for _, t := range req.(*kmsg.OffsetCommitRequest).Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	return resp
}

// markNotCoordinated sets the error of the groups in a multi-group answer
// (OffsetFetch, DescribeGroups, DeleteGroups) that this node does not
// coordinate.
func (b *Broker) markNotCoordinated(ctx context.Context, resp kmsg.Response) {
	switch r := resp.(type) {
	case *kmsg.OffsetFetchResponse:
		if r.Version < 8 { // one group, checked before
			return
		}
		for i := range r.Groups {
			if code := b.groupErr(ctx, r.Groups[i].Group); code != 0 {
				r.Groups[i].ErrorCode, r.Groups[i].Topics = code, nil
			}
		}
	case *kmsg.DescribeGroupsResponse:
		for i := range r.Groups {
			if code := b.groupErr(ctx, r.Groups[i].Group); code != 0 {
				r.Groups[i] = kmsg.DescribeGroupsResponseGroup{Group: r.Groups[i].Group, ErrorCode: code, AuthorizedOperations: r.Groups[i].AuthorizedOperations}
			}
		}
	case *kmsg.DeleteGroupsResponse:
		for i := range r.Groups {
			if code := b.groupErr(ctx, r.Groups[i].Group); code != 0 {
				r.Groups[i].ErrorCode = code
			}
		}
	}
}
