package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafka"
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

// handleFindCoordinator answers FindCoordinator v0-6: this node coordinates
// every group. Transactions are not implemented yet, so transaction
// coordinator lookups get COORDINATOR_NOT_AVAILABLE with a message.
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
	host, port := b.Advertised()
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
			c.NodeID, c.Host, c.Port = b.NodeID(), host, port
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
