package broker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/storage"
)

// Replication, follower side: one fetcher per leader broker fetches every
// partition this node follows from that leader in one Fetch request (as
// Kafka's replica fetcher threads do), appends the batches as they are
// (storage.AppendReplicated) and takes the leader's high watermark. When a
// partition gets a new leader epoch, the follower first asks the leader
// where its own latest epoch ends (OffsetForLeaderEpoch) and truncates what
// the new leader does not have (KIP-101), then fetches from its log end.

type followed struct {
	epoch   int32
	topicID [16]byte
}

type fetchers struct {
	b     *Broker
	peers *peers
	wakeC chan struct{}

	mu       sync.Mutex
	byLeader map[int32]*leaderFetcher
}

type leaderFetcher struct {
	leader int32
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	parts     map[storage.TopicPartition]followed
	truncated map[storage.TopicPartition]int32 // the epoch truncation was done for
}

func newFetchers(b *Broker) *fetchers {
	p := newPeers(b.cfg.NodeID)
	p.clientID = "sluice-replica-fetcher-" + strconv.Itoa(int(b.cfg.NodeID))
	return &fetchers{b: b, peers: p, wakeC: make(chan struct{}, 1), byLeader: map[int32]*leaderFetcher{}}
}

func (f *fetchers) wake() {
	select {
	case f.wakeC <- struct{}{}:
	default:
	}
}

// run keeps one fetcher per leader this node follows partitions of.
func (f *fetchers) run(ctx context.Context) {
	defer func() {
		f.mu.Lock()
		for id, lf := range f.byLeader {
			lf.cancel()
			<-lf.done
			delete(f.byLeader, id)
		}
		f.mu.Unlock()
		f.peers.closeAll()
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		f.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-f.wakeC:
		case <-tick.C:
		}
	}
}

func (f *fetchers) sync(ctx context.Context) {
	b := f.b
	want := map[int32]map[storage.TopicPartition]followed{}
	b.mu.RLock()
	for _, t := range b.state.Topics() {
		for _, p := range t.Partitions {
			if p.Leader < 0 || p.Leader == b.cfg.NodeID || !b.isReplica(p) {
				continue
			}
			tp := storage.TopicPartition{Topic: t.Name, Partition: p.ID}
			if b.parts[tp] == nil {
				continue
			}
			if want[p.Leader] == nil {
				want[p.Leader] = map[storage.TopicPartition]followed{}
			}
			want[p.Leader][tp] = followed{epoch: p.LeaderEpoch, topicID: t.ID}
		}
	}
	b.mu.RUnlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, lf := range f.byLeader {
		if want[id] == nil {
			lf.cancel()
			<-lf.done
			delete(f.byLeader, id)
		}
	}
	for id, parts := range want {
		lf := f.byLeader[id]
		if lf == nil {
			lctx, cancel := context.WithCancel(ctx)
			lf = &leaderFetcher{leader: id, cancel: cancel, done: make(chan struct{}), truncated: map[storage.TopicPartition]int32{}}
			f.byLeader[id] = lf
			go func() {
				defer close(lf.done)
				f.fetchFrom(lctx, lf)
			}()
		}
		lf.mu.Lock()
		lf.parts = parts
		lf.mu.Unlock()
	}
}

func (f *fetchers) leaderAddr(id int32) (string, bool) {
	f.b.mu.RLock()
	info, ok := f.b.state.Broker(id)
	f.b.mu.RUnlock()
	if !ok {
		return "", false
	}
	return info.Host + ":" + strconv.Itoa(int(info.Port)), true
}

func (f *fetchers) fetchFrom(ctx context.Context, lf *leaderFetcher) {
	b := f.b
	for ctx.Err() == nil {
		err := f.fetchOnce(ctx, lf)
		if err != nil && ctx.Err() == nil {
			b.log.Debug("replica fetch", "leader", lf.leader, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (f *fetchers) fetchOnce(ctx context.Context, lf *leaderFetcher) error {
	b := f.b
	addr, ok := f.leaderAddr(lf.leader)
	if !ok {
		return errors.New("leader not registered")
	}
	lf.mu.Lock()
	parts := lf.parts
	lf.mu.Unlock()
	logs := map[storage.TopicPartition]*storage.Log{}
	b.mu.RLock()
	for tp := range parts {
		if pt := b.parts[tp]; pt != nil {
			logs[tp] = pt.log
		}
	}
	b.mu.RUnlock()

	// Truncate partitions whose leader epoch is new to us.
	for tp, fp := range parts {
		l := logs[tp]
		if l == nil || lf.truncated[tp] == fp.epoch {
			continue
		}
		if err := f.truncate(ctx, addr, lf.leader, tp, fp.epoch, l); err != nil {
			return err
		}
		lf.truncated[tp] = fp.epoch
	}

	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = b.cfg.NodeID
	req.ReplicaState.ID = b.cfg.NodeID
	req.ReplicaState.Epoch = -1
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = 16 << 20
	req.SessionEpoch = -1
	byTopic := map[string]int{}
	names := map[[16]byte]string{}
	for tp, fp := range parts {
		l := logs[tp]
		if l == nil {
			continue
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = tp.Topic, fp.topicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
			names[fp.topicID] = tp.Topic
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch = tp.Partition, fp.epoch
		p.FetchOffset, p.LogStartOffset = l.LogEndOffset(), l.LogStartOffset()
		p.LastFetchedEpoch = -1
		p.PartitionMaxBytes = 4 << 20
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	if len(req.Topics) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return nil
	}
	resp, err := f.peers.request(ctx, lf.leader, addr, req)
	if err != nil {
		return err
	}
	fr := resp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
		return err
	}
	for _, t := range fr.Topics {
		name := t.Topic
		if n, ok := names[t.TopicID]; ok && name == "" {
			name = n
		}
		for _, p := range t.Partitions {
			tp := storage.TopicPartition{Topic: name, Partition: p.Partition}
			l := logs[tp]
			if l == nil {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				// A leader change or fencing: the metadata will tell us.
				b.log.Debug("replica fetch partition", "topic", name, "partition", p.Partition, "err", err)
				continue
			}
			if len(p.RecordBatches) > 0 {
				if _, err := l.AppendReplicated(p.RecordBatches); err != nil {
					b.log.Warn("appending replicated batches", "topic", name, "partition", p.Partition, "err", err)
					lf.truncated[tp] = -1 // find the divergence point again
					continue
				}
			}
			l.SetHighWatermark(min(p.HighWatermark, l.LogEndOffset()))
		}
	}
	return nil
}

// truncate removes what this follower has beyond the point where its
// latest leader epoch ends on the leader.
func (f *fetchers) truncate(ctx context.Context, addr string, leader int32, tp storage.TopicPartition, epoch int32, l *storage.Log) error {
	latest := l.LatestEpoch()
	if latest < 0 || l.LogEndOffset() == l.LogStartOffset() {
		return nil
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.b.cfg.NodeID
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.Partition, epoch, latest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := f.peers.request(ctx, leader, addr, req)
	if err != nil {
		return err
	}
	for _, t := range resp.(*kmsg.OffsetForLeaderEpochResponse).Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return err
			}
			end := p.EndOffset
			if p.LeaderEpoch < latest && p.LeaderEpoch >= 0 {
				// The leader never had our latest epoch: ours ends where its
				// last earlier epoch does.
				end = min(end, p.EndOffset)
			}
			if end >= 0 && end < l.LogEndOffset() {
				f.b.log.Info("truncating follower log after a leader change", "topic", tp.Topic, "partition", tp.Partition, "to", end, "leo", l.LogEndOffset())
				if err := l.TruncateTo(end); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
