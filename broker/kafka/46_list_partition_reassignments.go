package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments v0 (KIP-455): the reassignments in progress,
// all of them (null topics) or those of the partitions named, from the
// active controller; other nodes answer NOT_CONTROLLER.
func init() {
	register(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments)
}

func handleListPartitionReassignments(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	ca, err := clusterAdmin(s)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
		return resp, nil
	}
	var parts map[string][]int32
	if req.Topics != nil {
		parts = map[string][]int32{}
		for _, t := range req.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
	}
	idx := map[string]int{}
	for _, ra := range ca.Reassignments(parts) {
		i, ok := idx[ra.Topic]
		if !ok {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = ra.Topic
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
			idx[ra.Topic] = i
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = ra.Partition
		rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = ra.Replicas, nonNil(ra.Adding), nonNil(ra.Remove)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
