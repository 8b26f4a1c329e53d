package kafka

import (
	"context"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionReassignments v0-1 (KIP-455): start moving partitions to
// new replica lists, or cancel a move with null replicas, on the active
// controller; other nodes answer NOT_CONTROLLER. v1 may forbid replication
// factor changes (KIP-860).
func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionReassignments)
}

func handleAlterPartitionReassignments(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	ca, err := clusterAdmin(s)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
		return resp, nil
	}
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			err := ca.Reassign(ctx, rt.Topic, rp.Partition, rp.Replicas, allowRF)
			sp.ErrorCode, sp.ErrorMessage = errCode(err), errMsg(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
