package group

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit handles OffsetCommit v0-v10 (topic ids from v10 through
// Config.TopicName). Commits are durable in the Store before they answer.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	now := c.now()
	type slot struct {
		code *int16
		t    tp
		c    committed
	}
	var todo []slot
	for _, rt := range req.Topics {
		name, known := rt.Topic, true
		if req.Version >= 10 {
			name, known = c.topicName(rt.TopicID)
		}
		ot := kmsg.OffsetCommitResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID}
		ot.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			op := &ot.Partitions[i]
			op.Partition = rp.Partition
			md := ""
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			switch {
			case !known:
				op.ErrorCode = kerr.UnknownTopicID.Code
				continue
			case len(md) > c.cfg.MaxMetadataBytes:
				op.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			case c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(name, rp.Partition):
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			cm := committed{offset: rp.Offset, leaderEpoch: -1, metadata: md, commitTime: now.UnixMilli(), expireTime: -1}
			if req.Version >= 6 {
				cm.leaderEpoch = rp.LeaderEpoch
			}
			if req.Version == 1 && rp.Timestamp != -1 {
				cm.commitTime = rp.Timestamp
				cm.expireTime = rp.Timestamp + c.cfg.OffsetsRetention.Milliseconds()
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
				cm.expireTime = cm.commitTime + req.RetentionTimeMillis
			}
			todo = append(todo, slot{t: tp{name, rp.Partition}, c: cm})
		}
		resp.Topics = append(resp.Topics, ot)
	}
	// Point slots at their response partitions now that the slices are final.
	k := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			op := &resp.Topics[ti].Partitions[pi]
			if op.ErrorCode == 0 && k < len(todo) {
				todo[k].code = &op.ErrorCode
				k++
			}
		}
	}
	setAll := func(code int16) {
		for _, s := range todo {
			*s.code = code
		}
	}
	if len(todo) == 0 {
		return resp
	}
	if !c.Ready() {
		setAll(kerr.CoordinatorLoadInProgress.Code)
		return resp
	}
	var instanceID *string
	if req.Version >= 7 {
		instanceID = req.InstanceID
	}
	// A commit outside group management (generation -1) may create the group.
	g := c.lockGroup(req.Group, req.Generation < 0)
	if g == nil {
		setAll(kerr.IllegalGeneration.Code)
		return resp
	}
	defer c.unlock(g)
	if code := g.validateCommit(now, req.MemberID, instanceID, req.Generation); code != 0 {
		setAll(code)
		c.appendOrLog(ctx, g, g.maybeDie(now))
		return resp
	}
	recs := make([]KV, len(todo))
	for i, s := range todo {
		recs[i] = KV{Key: offsetKey(g.id, s.t.topic, s.t.partition), Value: offsetValue(s.c)}
	}
	if err := c.cfg.Store.Append(ctx, c.PartitionFor(g.id), recs); err != nil {
		c.log.Warn("storing offsets", "group", g.id, "err", err)
		setAll(storeCode(err, true))
		c.appendOrLog(ctx, g, g.maybeDie(now))
		return resp
	}
	for _, s := range todo {
		g.offsets[s.t] = s.c
	}
	c.m.commits.Add(float64(len(todo)))
	return resp
}

func (c *Coordinator) topicName(id [16]byte) (string, bool) {
	if c.cfg.TopicName == nil {
		return "", false
	}
	return c.cfg.TopicName(id)
}

func (c *Coordinator) topicID(name string) [16]byte {
	if c.cfg.TopicID == nil {
		return [16]byte{}
	}
	id, _ := c.cfg.TopicID(name)
	return id
}

type fetchTopic struct {
	name  string
	id    [16]byte
	known bool
	parts []int32
}

type fetchedPart struct {
	partition int32
	c         committed
	code      int16
}

type fetchedTopic struct {
	name  string
	id    [16]byte
	parts []fetchedPart
}

var unknownOffset = committed{offset: -1, leaderEpoch: -1}

// fetchOffsets answers one group of an OffsetFetch; topics nil means all.
func (c *Coordinator) fetchOffsets(groupID string, topics []fetchTopic, all bool) (int16, []fetchedTopic) {
	if !c.Ready() {
		return kerr.CoordinatorLoadInProgress.Code, nil
	}
	var offsets map[tp]committed
	if g := c.lockGroup(groupID, false); g != nil {
		offsets = make(map[tp]committed, len(g.offsets))
		for t, o := range g.offsets {
			offsets[t] = o
		}
		g.mu.Unlock()
	}
	if all {
		byTopic := map[string][]fetchedPart{}
		for t, o := range offsets {
			byTopic[t.topic] = append(byTopic[t.topic], fetchedPart{partition: t.partition, c: o})
		}
		out := make([]fetchedTopic, 0, len(byTopic))
		for name, ps := range byTopic {
			sort.Slice(ps, func(i, j int) bool { return ps[i].partition < ps[j].partition })
			out = append(out, fetchedTopic{name: name, id: c.topicID(name), parts: ps})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		return 0, out
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name, id: t.id}
		for _, p := range t.parts {
			fp := fetchedPart{partition: p, c: unknownOffset}
			if !t.known {
				fp.code = kerr.UnknownTopicID.Code
			} else if o, ok := offsets[tp{t.name, p}]; ok {
				fp.c = o
			}
			ft.parts = append(ft.parts, fp)
		}
		out = append(out, ft)
	}
	return 0, out
}

// OffsetFetch handles OffsetFetch v0-v10: one group before v8, many after;
// null topics (v2+) fetch every committed partition; unknown offsets are -1.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			for _, t := range rg.Topics {
				ft := fetchTopic{name: t.Topic, id: t.TopicID, known: true, parts: t.Partitions}
				if req.Version >= 10 {
					ft.name, ft.known = c.topicName(t.TopicID)
				}
				topics = append(topics, ft)
			}
			code, res := c.fetchOffsets(rg.Group, topics, rg.Topics == nil)
			og := kmsg.OffsetFetchResponseGroup{Group: rg.Group, ErrorCode: code}
			for _, ft := range res {
				ot := kmsg.OffsetFetchResponseGroupTopic{Topic: ft.name, TopicID: ft.id}
				for _, p := range ft.parts {
					ot.Partitions = append(ot.Partitions, kmsg.OffsetFetchResponseGroupTopicPartition{
						Partition: p.partition, Offset: p.c.offset, LeaderEpoch: p.c.leaderEpoch,
						Metadata: strPtr(p.c.metadata), ErrorCode: p.code,
					})
				}
				og.Topics = append(og.Topics, ot)
			}
			resp.Groups = append(resp.Groups, og)
		}
		return resp
	}
	var topics []fetchTopic
	for _, t := range req.Topics {
		topics = append(topics, fetchTopic{name: t.Topic, known: true, parts: t.Partitions})
	}
	code, res := c.fetchOffsets(req.Group, topics, req.Topics == nil && req.Version >= 2)
	resp.ErrorCode = code
	for _, ft := range res {
		ot := kmsg.OffsetFetchResponseTopic{Topic: ft.name}
		for _, p := range ft.parts {
			ot.Partitions = append(ot.Partitions, kmsg.OffsetFetchResponseTopicPartition{
				Partition: p.partition, Offset: p.c.offset, LeaderEpoch: p.c.leaderEpoch,
				Metadata: strPtr(p.c.metadata), ErrorCode: p.code,
			})
		}
		resp.Topics = append(resp.Topics, ot)
	}
	if code != 0 && req.Version < 2 {
		// No top-level error before v2: report it on each partition.
		for _, t := range req.Topics {
			ot := kmsg.OffsetFetchResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				ot.Partitions = append(ot.Partitions, kmsg.OffsetFetchResponseTopicPartition{
					Partition: p, Offset: -1, LeaderEpoch: -1, Metadata: strPtr(""), ErrorCode: code,
				})
			}
			resp.Topics = append(resp.Topics, ot)
		}
	}
	return resp
}

// OffsetDelete handles OffsetDelete v0: an Empty group's offsets go; a
// consumer group with members keeps those of topics it subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !c.Ready() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	defer c.unlock(g)
	now := c.now()
	switch g.state {
	case stateEmpty:
	case statePreparingRebalance, stateCompletingRebalance, stateStable:
		if g.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
	}
	var eligible []tp
	var codes []*int16
	for _, rt := range req.Topics {
		ot := kmsg.OffsetDeleteResponseTopic{Topic: rt.Topic}
		ot.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			ot.Partitions[i].Partition = rp.Partition
		}
		resp.Topics = append(resp.Topics, ot)
	}
	for ti := range resp.Topics {
		ot := &resp.Topics[ti]
		for pi := range ot.Partitions {
			op := &ot.Partitions[pi]
			switch {
			case c.cfg.PartitionExists != nil && !c.cfg.PartitionExists(ot.Topic, op.Partition):
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case g.state != stateEmpty && g.subscribedTo(ot.Topic):
				op.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				eligible = append(eligible, tp{ot.Topic, op.Partition})
				codes = append(codes, &op.ErrorCode)
			}
		}
	}
	var recs []KV
	for _, t := range eligible {
		if _, ok := g.offsets[t]; ok {
			recs = append(recs, tombstone(g.id, t))
		}
	}
	if len(recs) > 0 {
		if err := c.cfg.Store.Append(ctx, c.PartitionFor(g.id), recs); err != nil {
			c.log.Warn("deleting offsets", "group", g.id, "err", err)
			code := storeCode(err, true)
			for _, p := range codes {
				*p = code
			}
			return resp
		}
	}
	g.removeOffsets(eligible)
	c.appendOrLog(ctx, g, g.maybeDie(now))
	return resp
}

// TopicsDeleted drops every group's offsets for the deleted topics, writing
// their tombstones; groups left Empty without offsets go away.
func (c *Coordinator) TopicsDeleted(topics []string) {
	if len(topics) == 0 {
		return
	}
	del := make(map[string]bool, len(topics))
	for _, t := range topics {
		del[t] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := c.now()
	for _, g := range c.snapshot() {
		g.mu.Lock()
		var tps []tp
		for t := range g.offsets {
			if del[t.topic] {
				tps = append(tps, t)
			}
		}
		if len(tps) > 0 && g.state != stateDead {
			c.appendOrLog(ctx, g, g.dropOffsets(now, tps))
		}
		c.unlock(g)
	}
}

// CommittedOffsets returns group's committed offsets by topic and partition
// (nil if the group is unknown), for lag metrics and `group describe`.
func (c *Coordinator) CommittedOffsets(group string) map[string]map[int32]int64 {
	g := c.lockGroup(group, false)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	out := map[string]map[int32]int64{}
	for t, o := range g.offsets {
		if out[t.topic] == nil {
			out[t.topic] = map[int32]int64{}
		}
		out[t.topic][t.partition] = o.offset
	}
	return out
}
