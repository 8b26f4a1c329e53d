package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions v0-3: grow a topic to a new count, with optional replica
// assignments for the new partitions; validate_only.
func init() { register(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if count[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once", kerr.InvalidRequest, rt.Topic)
		} else {
			var assignment [][]int32
			if rt.Assignment != nil {
				for _, a := range rt.Assignment {
					assignment = append(assignment, a.Replicas)
				}
			}
			err = s.b.CreatePartitions(ctx, rt.Topic, rt.Count, assignment, req.ValidateOnly)
		}
		st.ErrorCode, st.ErrorMessage = errCode(err), errMsg(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
