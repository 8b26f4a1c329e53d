package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics v0-7: partitions and replication factor (-1: broker
// defaults), or an explicit replica assignment; configs validated against
// the broker's config specs; validate_only (v1+). v5+ answers with the
// topic's resulting configs, v7+ with its topic id.
func init() { register(kmsg.CreateTopics, 0, 7, handleCreateTopics) }

func handleCreateTopics(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(err error) {
			st.ErrorCode = errCode(err)
			st.ErrorMessage = errMsg(err)
			resp.Topics = append(resp.Topics, st)
		}
		if count[rt.Topic] > 1 {
			fail(fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, rt.Topic))
			continue
		}
		ct := CreateTopic{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, ValidateOnly: req.ValidateOnly}
		if len(rt.ReplicaAssignment) > 0 {
			ct.Assignment = make([][]int32, len(rt.ReplicaAssignment))
			bad := false
			for _, a := range rt.ReplicaAssignment {
				if a.Partition < 0 || int(a.Partition) >= len(ct.Assignment) || ct.Assignment[a.Partition] != nil {
					bad = true
					break
				}
				ct.Assignment[a.Partition] = a.Replicas
			}
			if bad {
				fail(fmt.Errorf("%w: partitions of a replica assignment must be 0..n-1, each once", kerr.InvalidReplicaAssignment))
				continue
			}
		}
		if len(rt.Configs) > 0 {
			ct.Configs = map[string]*string{}
			for _, c := range rt.Configs {
				ct.Configs[c.Name] = c.Value
			}
		}
		t, err := s.b.CreateTopic(ctx, ct)
		if err != nil {
			fail(err)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		if req.ValidateOnly {
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if cfgs, err := s.b.DescribeConfigs(kmsg.ConfigResourceTypeTopic, t.Name, nil, false, false); err == nil {
			for _, c := range cfgs {
				sc := kmsg.NewCreateTopicsResponseTopicConfig()
				sc.Name, sc.Value, sc.ReadOnly, sc.Source, sc.IsSensitive = c.Name, c.Value, c.ReadOnly, int8(c.Source), c.IsSensitive
				if v, ok := ct.Configs[c.Name]; ok && v != nil {
					sc.Value, sc.Source = v, int8(kmsg.ConfigSourceDynamicTopicConfig)
				}
				st.Configs = append(st.Configs, sc)
			}
		} else {
			st.ConfigErrorCode = errCode(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
