package kafka

import (
	"context"
	"math"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// Fetch v4-18: long-poll up to max.wait.ms until min.bytes are available,
// woken by appends (storage.Log.Changed); max.bytes for the response and
// per partition, the first batch always whole (KIP-74); fetch sessions,
// full and incremental (KIP-227, fetch_session.go); topic ids (v13+);
// isolation level (read_committed sees up to the last stable offset, which
// equals the high watermark until transactions exist). Record batches are
// served as the bytes storage returns.
func init() { register(kmsg.Fetch, 4, 18, handleFetch) }

// fetchPart is one partition to read in this request.
type fetchPart struct {
	key      sessionKey
	name     string // resolved topic name ("" if unknown)
	offset   int64
	maxBytes int32
	leaderEp int32
	sp       *sessionPart // nil for sessionless fetches

	errCode       int16
	hw, lso, ls   int64
	records       []byte
	log           *storage.Log
	leaderEpochOK bool
	follower      bool // a replica's fetch
	fromFollower  bool // a consumer reading this node's follower replica (KIP-392)
	redirect      bool // preferred is where the consumer should read (KIP-392)
	preferred     int32
	quota         int8 // quotaNone, quotaSubject or quotaThrottled (fetch_follower.go)
}

func handleFetch(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	byID := req.Version >= 13
	keyOf := func(topic string, id [16]byte, p int32) sessionKey {
		if byID {
			return sessionKey{id: id, partition: p}
		}
		return sessionKey{topic: topic, partition: p}
	}

	var sess *fetchSession
	incremental := false
	if req.Version >= 7 {
		switch {
		case req.SessionEpoch == -1: // sessionless full fetch; close the session named
			if req.SessionID != 0 {
				s.sessions.remove(req.SessionID)
			}
		case req.SessionEpoch == 0: // a new full session, replacing the one named
			if req.SessionID != 0 {
				s.sessions.remove(req.SessionID)
			}
			sess = s.sessions.create()
		case req.SessionID == 0:
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp, nil
		default:
			var err error
			if sess, err = s.sessions.get(req.SessionID, req.SessionEpoch); err != nil {
				resp.ErrorCode = errCode(err)
				return resp, nil
			}
			incremental = true
		}
	}
	if sess != nil {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if incremental && req.SessionEpoch != sess.epoch {
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			return resp, nil
		}
		resp.SessionID = sess.id
	}

	var parts []*fetchPart
	if sess == nil {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, &fetchPart{key: keyOf(t.Topic, t.TopicID, p.Partition), offset: p.FetchOffset, maxBytes: p.PartitionMaxBytes, leaderEp: p.CurrentLeaderEpoch})
			}
		}
	} else {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				sess.upsert(keyOf(t.Topic, t.TopicID, p.Partition), p.FetchOffset, p.PartitionMaxBytes, p.CurrentLeaderEpoch)
			}
		}
		for _, t := range req.ForgottenTopics {
			for _, p := range t.Partitions {
				sess.forget(keyOf(t.Topic, t.TopicID, p))
			}
		}
		for _, sp := range sess.parts {
			parts = append(parts, &fetchPart{key: sp.key, offset: sp.offset, maxBytes: sp.maxBytes, leaderEp: sp.leaderEp, sp: sp})
		}
	}

	// A follower's fetch (replica id >= 0) reads up to the log end and tells
	// the leader how far the follower got.
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	fr, _ := s.b.(FollowerReads)

	// Resolve names and logs once; metadata changes during a long poll
	// show up in the next request.
	for _, fp := range parts {
		var t *metadata.Topic
		var ok bool
		if byID {
			t, ok = s.b.TopicByID(fp.key.id)
		} else {
			t, ok = s.b.Topic(fp.key.topic)
		}
		fp.hw, fp.lso, fp.ls = -1, -1, -1
		switch {
		case !ok && byID:
			fp.errCode = kerr.UnknownTopicID.Code
		case !ok || fp.key.partition < 0 || int(fp.key.partition) >= len(t.Partitions):
			fp.errCode = kerr.UnknownTopicOrPartition.Code
		default:
			fp.name = t.Name
			if ep := t.Partitions[fp.key.partition].LeaderEpoch; fp.leaderEp >= 0 && fp.leaderEp != ep {
				fp.errCode = kerr.FencedLeaderEpoch.Code
				if fp.leaderEp > ep {
					fp.errCode = kerr.UnknownLeaderEpoch.Code
				}
			} else if fp.log = s.b.Log(t.Name, fp.key.partition); fp.log == nil {
				if fr != nil && replica < 0 && req.Version >= 11 {
					fp.log = fr.FollowerLog(t.Name, fp.key.partition)
					fp.fromFollower = fp.log != nil
				}
				if fp.log == nil {
					fp.errCode = kerr.NotLeaderForPartition.Code
				}
			}
		}
	}

	if replica >= 0 {
		for _, fp := range parts {
			fp.follower = true
			if fp.log != nil {
				s.b.ReplicaFetched(fp.name, fp.key.partition, replica, fp.offset)
				if fr != nil {
					if subject, budget := fr.ReplicationQuota(fp.name, fp.key.partition, replica); subject && budget <= 0 {
						fp.quota = quotaThrottled
					} else if subject {
						fp.quota, fp.maxBytes = quotaSubject, int32(min(int64(fp.maxBytes), budget))
					}
				}
			}
		}
	}
	redirected, throttled := false, false
	for _, fp := range parts {
		throttled = throttled || fp.quota == quotaThrottled // wait out max.wait.ms rather than spin
	}
	if fr != nil && replica < 0 && req.Version >= 11 && req.Rack != "" {
		for _, fp := range parts {
			if fp.log != nil && !fp.fromFollower {
				if pr := fr.PreferredReadReplica(fp.name, fp.key.partition, req.Rack, fp.offset); pr >= 0 {
					fp.redirect, fp.preferred, redirected = true, pr, true
				}
			}
		}
	}

	maxWait := time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond
	deadline := time.Now().Add(maxWait)
	maxBytes := req.MaxBytes
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = math.MaxInt32
	}
	for {
		waits := readFetchParts(parts, maxBytes)
		total, errs := 0, false
		for _, fp := range parts {
			total += len(fp.records)
			errs = errs || fp.errCode != 0
		}
		if total >= int(req.MinBytes) || total > 0 && req.MinBytes <= 0 || errs || redirected || !time.Now().Before(deadline) || len(waits) == 0 && !throttled {
			break
		}
		if !waitAny(ctx, waits, deadline) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			readFetchParts(parts, maxBytes)
			break
		}
	}

	topicIdx := map[sessionKey]int{}
	for _, fp := range parts {
		if sp := fp.sp; sp != nil && incremental {
			changed := len(fp.records) > 0 || fp.errCode != 0 || !sp.sent || fp.hw != sp.hw || fp.lso != sp.lso || fp.ls != sp.logStart
			if !changed {
				continue
			}
		}
		if sp := fp.sp; sp != nil {
			sp.sent, sp.hw, sp.lso, sp.logStart, sp.lastError = true, fp.hw, fp.lso, fp.ls, fp.errCode
		}
		tk := sessionKey{topic: fp.key.topic, id: fp.key.id}
		i, ok := topicIdx[tk]
		if !ok {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = fp.key.topic, fp.key.id
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
			topicIdx[tk] = i
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = fp.key.partition
		rp.ErrorCode = fp.errCode
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = fp.hw, fp.lso, fp.ls
		rp.PreferredReadReplica = -1
		if fp.redirect {
			rp.PreferredReadReplica = fp.preferred
		}
		rp.RecordBatches = fp.records
		if rp.RecordBatches == nil {
			rp.RecordBatches = []byte{} // Kafka sends empty records, never null (librdkafka rejects null)
		}
		if len(fp.records) > 0 {
			s.m.fetched(fp.name, len(fp.records), countRecords(fp.records))
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	if fr != nil {
		served := 0
		for _, fp := range parts {
			if fp.quota == quotaSubject {
				served += len(fp.records)
			}
		}
		if served > 0 {
			fr.ReplicationServed(served)
		}
	}
	if incremental {
		sess.epoch++
		if sess.epoch == math.MaxInt32 {
			sess.epoch = 1 // wraps as Kafka's does
		}
	}
	return resp, nil
}

// readFetchParts reads every partition without an error within the
// response budget and returns the Changed channels to wait on (taken before
// reading, so no append between read and wait is missed).
func readFetchParts(parts []*fetchPart, maxBytes int32) []<-chan struct{} {
	var waits []<-chan struct{}
	budget := int64(maxBytes)
	got := false
	for _, fp := range parts {
		if fp.log == nil {
			continue
		}
		if fp.redirect || fp.quota == quotaThrottled {
			// No records: the consumer is sent to another replica, or the
			// follower waits for the replication throttle.
			fp.hw, fp.lso, fp.ls = fp.log.HighWatermark(), fp.log.HighWatermark(), fp.log.LogStartOffset()
			continue
		}
		waits = append(waits, fp.log.Changed())
		fp.errCode = 0
		fp.records = nil
		hw := fp.log.HighWatermark()
		upTo := hw
		if fp.follower {
			upTo = -1 // followers read to the log end
		}
		limit := int32(min(int64(max(fp.maxBytes, 0)), budget))
		res, err := fp.log.Read(fp.offset, storage.ReadOptions{MaxBytes: limit, MinOneBatch: !got, UpTo: upTo})
		fp.hw, fp.lso, fp.ls = res.HighWatermark, res.HighWatermark, res.LogStartOffset
		if err != nil {
			fp.errCode = errCode(err)
			continue
		}
		fp.records = res.Records
		if len(res.Records) > 0 {
			got = true
			budget -= int64(len(res.Records))
			if budget < 0 {
				budget = 0
			}
		}
	}
	return waits
}

// waitAny waits until one of chans is closed (true), or the deadline or
// ctx (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}
