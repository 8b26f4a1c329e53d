package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartition v0-1: a partition leader asks the active controller to
// change the ISR (shrink a lagging follower out, add a caught-up one back).
// The change applies only if the partition epoch is still the one the
// leader saw. Other nodes answer NOT_CONTROLLER.
func init() { register(kmsg.AlterPartition, 0, 1, handleAlterPartition) }

func handleAlterPartition(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AlterPartitionRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			err := s.b.AlterPartition(ctx, req.BrokerID, rt.Topic, rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR)
			sp.ErrorCode = errCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
