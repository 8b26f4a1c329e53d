package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/metadata"
	"github.com/sluicehq/sluice/broker/storage"
)

// ListOffsets v0-11 (v0 answers in its old offsets array): -1 latest (the high watermark; for read_committed the
// last stable offset, equal until transactions exist), -2 earliest, -3 the
// record with the largest timestamp (v7+), -4/-5 earliest local/tiered
// (the log start: there is no tiering), or the first offset whose timestamp
// is at least the one given.
func init() { register(kmsg.ListOffsets, 0, 11, handleListOffsets) }

func handleListOffsets(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, known := s.b.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			sp.ErrorCode = listOffset(s, t, known, rp, &sp)
			if req.Version == 0 && sp.ErrorCode == 0 && sp.Offset >= 0 && rp.MaxNumOffsets > 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func listOffset(s *Server, t *metadata.Topic, known bool, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	if !known || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition.Code
	}
	ep := t.Partitions[rp.Partition].LeaderEpoch
	if rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch != ep {
		if rp.CurrentLeaderEpoch > ep {
			return kerr.UnknownLeaderEpoch.Code
		}
		return kerr.FencedLeaderEpoch.Code
	}
	l := s.b.Log(t.Name, rp.Partition)
	if l == nil {
		return kerr.NotLeaderForPartition.Code
	}
	ts := rp.Timestamp
	if ts == -5 {
		ts = -2
	}
	if ts == -1 && len(t.Partitions[rp.Partition].Replicas) > 1 && !hwEstablished(l, ep) {
		// A new leader's high watermark (from its checkpoint, or its days as
		// a follower) may be behind what was acknowledged until the
		// followers fetch from it: as Kafka (KIP-207), the end offset is
		// not available yet rather than wrong; clients retry.
		return kerr.OffsetNotAvailable.Code
	}
	off, found, err := l.ListOffset(ts)
	if err != nil {
		return errCode(err)
	}
	sp.Offset, sp.Timestamp = off, found
	if off >= 0 {
		sp.LeaderEpoch = ep
	}
	return 0
}

// hwEstablished reports whether the leader's high watermark has reached
// the start of its leader epoch ep: the log end when ep has no batch yet.
func hwEstablished(l *storage.Log, ep int32) bool {
	start := l.LogEndOffset()
	if l.LatestEpoch() >= ep {
		_, start = l.EndOffsetForEpoch(ep - 1)
	}
	return l.HighWatermark() >= start
}
