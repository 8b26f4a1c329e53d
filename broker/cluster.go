package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/kafka"
	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// The cluster side of a node (KRaft's split, in one process):
//
//   - as a broker, it registers with the active controller and heartbeats
//     (lifecycle loop); a node that is itself the controller does so in
//     process, through the same code as a remote broker's request;
//   - as the active controller (the Raft leader of the metadata quorum), it
//     registers brokers, fences those whose heartbeats stop for
//     broker.session.timeout.ms (moving their leaderships to in-sync
//     replicas) and unfences them when they return (controller loop).
//
// Heartbeat times live only in the active controller's memory, as in KRaft:
// a new controller gives every broker a fresh session.

// controllerState is the active controller's memory of broker sessions.
type controllerState struct {
	mu       sync.Mutex
	leading  bool
	lastBeat map[int32]time.Time
}

// Brokers implements kafka.Backend: the unfenced registered brokers.
func (b *Broker) Brokers() []metadata.BrokerInfo {
	b.mu.RLock()
	all := b.state.Brokers()
	b.mu.RUnlock()
	out := all[:0]
	for _, br := range all {
		if !br.Fenced {
			out = append(out, br)
		}
	}
	return out
}

// ControllerID implements kafka.Backend.
func (b *Broker) ControllerID() int32 { return b.quorum.Leader() }

// RegisterBroker implements kafka.Backend on the active controller.
func (b *Broker) RegisterBroker(ctx context.Context, reg kafka.BrokerRegistration) (int64, error) {
	if reg.ClusterID != b.clusterID {
		return -1, fmt.Errorf("%w: cluster id %q, this cluster is %q", kerr.InconsistentClusterID, reg.ClusterID, b.clusterID)
	}
	if reg.JoinOnly {
		return -1, b.join(ctx, reg)
	}
	if !b.quorum.IsLeader() {
		return -1, metadata.ErrNotController
	}
	if reg.Observer != "" {
		if err := b.quorum.AddObserver(ctx, reg.ID, reg.Observer); err != nil {
			return -1, err
		}
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.RLock()
	old, _ := b.state.Broker(reg.ID)
	b.mu.RUnlock()
	info := metadata.BrokerInfo{ID: reg.ID, Epoch: old.Epoch + 1, Host: reg.Host, Port: reg.Port, Rack: reg.Rack}
	if err := b.commit(metadata.Record{Type: metadata.RegisterBroker, Broker: &info}); err != nil {
		return -1, err
	}
	b.ctl.mu.Lock()
	if b.ctl.lastBeat != nil {
		b.ctl.lastBeat[reg.ID] = time.Now()
	}
	b.ctl.mu.Unlock()
	b.log.Info("broker registered", "broker", reg.ID, "epoch", info.Epoch, "rack", reg.Rack, "host", reg.Host, "port", reg.Port)
	return info.Epoch, nil
}

// BrokerHeartbeat implements kafka.Backend on the active controller. A
// fenced broker's heartbeat unfences it and gives leaderless partitions a
// leader again.
func (b *Broker) BrokerHeartbeat(ctx context.Context, id int32, epoch int64, wantFence bool) (bool, error) {
	if !b.quorum.IsLeader() {
		return true, metadata.ErrNotController
	}
	b.mu.RLock()
	info, ok := b.state.Broker(id)
	b.mu.RUnlock()
	if !ok {
		return true, fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, id)
	}
	if info.Epoch != epoch {
		return true, fmt.Errorf("%w: broker %d epoch %d, registered %d", kerr.StaleBrokerEpoch, id, epoch, info.Epoch)
	}
	b.ctl.mu.Lock()
	if b.ctl.lastBeat != nil {
		b.ctl.lastBeat[id] = time.Now()
	}
	b.ctl.mu.Unlock()
	if wantFence || !info.Fenced {
		return info.Fenced, nil
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	if err := b.commit(metadata.Record{Type: metadata.UnfenceBroker, Broker: &metadata.BrokerInfo{ID: id, Epoch: epoch}}); err != nil {
		return true, err
	}
	b.log.Info("broker unfenced", "broker", id, "epoch", epoch)
	if err := b.commitPartitionChanges(b.offlineChanges(false)); err != nil {
		b.log.Warn("electing leaders after a broker returned", "broker", id, "err", err)
	}
	return false, nil
}

// live reports, for leader elections, whether a broker is registered and
// unfenced. Caller holds mu (read).
func (b *Broker) liveLocked(id int32) bool {
	info, ok := b.state.Broker(id)
	return ok && !info.Fenced
}

func (b *Broker) uncleanFor(dyn map[string]string) func(string) bool {
	return func(topic string) bool {
		t, ok := b.state.Topic(topic)
		if !ok {
			return false
		}
		return b.topicConfigs(dyn, t.Configs)["unclean.leader.election.enable"] == "true"
	}
}

// offlineChanges computes leader elections for leaderless partitions (and,
// with preferred, preferred-leader elections).
func (b *Broker) offlineChanges(preferred bool) []metadata.Record {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return metadata.OfflineChanges(b.state, b.liveLocked, b.uncleanFor(b.state.BrokerConfigs()), preferred)
}

// commitPartitionChanges commits leader/ISR changes one topic at a time;
// a topic deleted meanwhile is skipped. Caller holds metaMu.
func (b *Broker) commitPartitionChanges(recs []metadata.Record) error {
	var errs []error
	for _, r := range recs {
		if err := b.commit(r); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fence fences a broker whose session expired and moves its leaderships.
func (b *Broker) fence(id int32, epoch int64) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	if err := b.commit(metadata.Record{Type: metadata.FenceBroker, Broker: &metadata.BrokerInfo{ID: id, Epoch: epoch}}); err != nil {
		return err
	}
	b.mu.RLock()
	recs := metadata.FenceChanges(b.state, id, b.liveLocked, b.uncleanFor(b.state.BrokerConfigs()))
	b.mu.RUnlock()
	return b.commitPartitionChanges(recs)
}

// runController fences brokers whose sessions expire while this node is
// the active controller.
func (b *Broker) runController(ctx context.Context) error {
	session := time.Duration(b.brokerInt("broker.session.timeout.ms")) * time.Millisecond
	tick := time.NewTicker(min(session/4, 500*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		leading := b.quorum.IsLeader()
		b.ctl.mu.Lock()
		if leading && !b.ctl.leading {
			// A new controller: every broker starts a fresh session.
			b.ctl.lastBeat = map[int32]time.Time{}
			b.mu.RLock()
			for _, br := range b.state.Brokers() {
				b.ctl.lastBeat[br.ID] = time.Now()
			}
			b.mu.RUnlock()
			b.log.Info("active controller", "node", b.cfg.NodeID)
		} else if !leading {
			b.ctl.lastBeat = nil
		}
		b.ctl.leading = leading
		var expired []metadata.BrokerInfo
		if leading {
			// The controller does not fence its own broker: this loop
			// running is its heartbeat.
			b.ctl.lastBeat[b.cfg.NodeID] = time.Now()
			now := time.Now()
			b.mu.RLock()
			for _, br := range b.state.Brokers() {
				if !br.Fenced && now.Sub(b.ctl.lastBeat[br.ID]) > session {
					expired = append(expired, br)
				}
			}
			b.mu.RUnlock()
		}
		b.ctl.mu.Unlock()
		for _, br := range expired {
			b.log.Warn("fencing broker: session expired", "broker", br.ID, "epoch", br.Epoch)
			if err := b.fence(br.ID, br.Epoch); err != nil && !errors.Is(err, kerr.NotController) {
				b.log.Warn("fencing broker", "broker", br.ID, "err", err)
			}
		}
	}
}

// registerLocal registers this node when it is the active controller (a
// single node always is), before the first request is served.
func (b *Broker) registerLocal(ctx context.Context) (int64, error) {
	reg := b.registration()
	epoch, err := b.RegisterBroker(ctx, reg)
	if err != nil {
		return -1, err
	}
	if _, err := b.BrokerHeartbeat(ctx, reg.ID, epoch, false); err != nil {
		return -1, err
	}
	return epoch, nil
}

func (b *Broker) registration() kafka.BrokerRegistration {
	reg := kafka.BrokerRegistration{ID: b.cfg.NodeID, ClusterID: b.clusterID, Host: b.advHost, Port: b.advPort}
	if r := b.Rack(); r != nil {
		reg.Rack = *r
	}
	return reg
}

// runLifecycle keeps this broker registered and heartbeating with whichever
// node is the active controller, re-registering when told its epoch is stale
// (a controller that lost its registration, or a restart).
func (b *Broker) runLifecycle(ctx context.Context, epoch int64) error {
	interval := time.Duration(b.brokerInt("broker.heartbeat.interval.ms")) * time.Millisecond
	// A controller that stopped answering (SIGSTOP, a cut network) must not
	// hold a heartbeat past this broker's session: the next attempt goes to
	// whichever controller the quorum has elected meanwhile.
	timeout := max(time.Duration(b.brokerInt("broker.session.timeout.ms"))*time.Millisecond/3, 250*time.Millisecond)
	for {
		var err error
		rctx, cancel := context.WithTimeout(ctx, timeout)
		if epoch < 0 {
			epoch, err = b.register(rctx)
		} else {
			err = b.heartbeat(rctx, epoch)
			if errors.Is(err, kerr.StaleBrokerEpoch) || errors.Is(err, kerr.BrokerIDNotRegistered) {
				epoch = -1
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			b.log.Debug("broker lifecycle", "err", err)
		}
		wait := interval
		if err != nil {
			wait = min(interval, 250*time.Millisecond) + time.Duration(rand.Int64N(int64(50*time.Millisecond)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (b *Broker) register(ctx context.Context) (int64, error) {
	if b.quorum.IsLeader() {
		return b.registerLocal(ctx)
	}
	reg := b.registration()
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.Rack = reg.ID, reg.ClusterID, b.Rack()
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port, l.SecurityProtocol = "PLAINTEXT", reg.Host, uint16(reg.Port), 0
	req.Listeners = []kmsg.BrokerRegistrationRequestListener{l}
	if b.observer != "" {
		req.Listeners = append(req.Listeners, metadataListener(b.observer))
	}
	resp, err := b.toController(ctx, req)
	if err != nil {
		return -1, err
	}
	r := resp.(*kmsg.BrokerRegistrationResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return -1, err
	}
	return r.BrokerEpoch, b.heartbeat(ctx, r.BrokerEpoch)
}

func (b *Broker) heartbeat(ctx context.Context, epoch int64) error {
	if b.quorum.IsLeader() {
		_, err := b.BrokerHeartbeat(ctx, b.cfg.NodeID, epoch, false)
		return err
	}
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = b.cfg.NodeID, epoch
	req.CurrentMetadataOffset = int64(b.quorum.AppliedIndex())
	resp, err := b.toController(ctx, req)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.(*kmsg.BrokerHeartbeatResponse).ErrorCode)
}

// toController sends req to the active controller's Kafka listener.
func (b *Broker) toController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	id := b.quorum.Leader()
	if id < 0 {
		return nil, fmt.Errorf("%w: no active controller", kerr.NotController)
	}
	b.mu.RLock()
	info, ok := b.state.Broker(id)
	b.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: controller %d has not registered yet", kerr.NotController, id)
	}
	return b.peers.request(ctx, id, info.Host+":"+strconv.Itoa(int(info.Port)), req)
}

// isReplica reports whether this node holds a replica of p.
func (b *Broker) isReplica(p metadata.Partition) bool {
	return slices.Contains(p.Replicas, b.cfg.NodeID)
}

// runReconcile makes this node's open partitions follow the metadata: it
// opens the logs of partitions it became a replica of and drops those of
// deleted topics, whoever committed the change (the controller, on another
// node). Changes made through this node open their logs directly too;
// opening is idempotent and the remover of a b.parts entry owns its deletion.
func (b *Broker) runReconcile(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.reconcileC:
		}
		if err := b.reconcile(); err != nil {
			b.log.Warn("reconciling partitions with the metadata", "err", err)
		}
		b.fetchers.wake()
	}
}

func (b *Broker) reconcile() error {
	// metaMu keeps local metadata changes (which open and delete partition
	// data themselves) out while the data is made to match.
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.Lock()
	dyn := b.state.BrokerConfigs()
	want := map[storage.TopicPartition]*metadata.Topic{}
	for _, t := range b.state.Topics() {
		for _, p := range t.Partitions {
			if b.isReplica(p) {
				want[storage.TopicPartition{Topic: t.Name, Partition: p.ID}] = t
			}
		}
	}
	var errs []error
	var gone []storage.TopicPartition
	for tp := range b.parts {
		if want[tp] == nil {
			delete(b.parts, tp)
			gone = append(gone, tp)
		}
	}
	for tp, t := range want {
		if b.parts[tp] == nil {
			errs = append(errs, b.openPartitionLocked(tp, b.logConfigFrom(dyn, t.Configs)))
		}
	}
	b.mu.Unlock()
	deleted := map[string]bool{}
	for _, tp := range gone {
		errs = append(errs, b.store.DeletePartition(tp.Topic, tp.Partition))
		if _, ok := b.Topic(tp.Topic); !ok {
			deleted[tp.Topic] = true
		}
	}
	for topic := range deleted {
		b.metrics.ForgetTopic(topic)
		b.groups.TopicsDeleted([]string{topic})
	}
	return errors.Join(errs...)
}

// metadataListener is a broker-only node's Raft address as a registration
// listener.
func metadataListener(addr string) kmsg.BrokerRegistrationRequestListener {
	l := kmsg.NewBrokerRegistrationRequestListener()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	l.Name, l.Host, l.Port = kafka.MetadataListener, host, uint16(p)
	return l
}

// join handles a broker-only node's request to follow the metadata: the
// controller adds it to the quorum as a non-voter; another node passes the
// request on to the controller.
func (b *Broker) join(ctx context.Context, reg kafka.BrokerRegistration) error {
	if b.quorum.IsLeader() {
		if err := b.quorum.AddObserver(ctx, reg.ID, reg.Observer); err != nil {
			return err
		}
		b.log.Info("broker-only node follows the metadata", "broker", reg.ID, "raft", reg.Observer)
		return nil
	}
	resp, err := b.toController(ctx, joinRequest(reg.ID, reg.ClusterID, reg.Observer))
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.(*kmsg.BrokerRegistrationResponse).ErrorCode)
}

func joinRequest(id int32, clusterID, observer string) *kmsg.BrokerRegistrationRequest {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID = id, clusterID
	req.Listeners = []kmsg.BrokerRegistrationRequestListener{metadataListener(observer)}
	return req
}

// joinQuorum makes this broker-only node a follower of the metadata: it
// asks the nodes of controller.quorum.bootstrap.servers, in turn, to have
// the controller add it, until records arrive.
func (b *Broker) joinQuorum(ctx context.Context, bootstrap []string) error {
	var last error
	for attempt := 0; ; attempt++ {
		addr := bootstrap[attempt%len(bootstrap)]
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := b.peers.request(rctx, -1-int32(attempt%len(bootstrap)), addr, joinRequest(b.cfg.NodeID, b.clusterID, b.observer))
		cancel()
		if err == nil {
			err = kerr.ErrorForCode(resp.(*kmsg.BrokerRegistrationResponse).ErrorCode)
		}
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = b.quorum.WaitReady(wctx)
			cancel()
			if err == nil {
				return nil
			}
		}
		last = err
		b.log.Debug("joining the metadata quorum", "via", addr, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("joining the metadata quorum through %s: %w (last: %v)", strings.Join(bootstrap, ","), ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
