package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AllocateProducerIds v0: a broker asks the active controller for a block
// of producer ids to hand out in InitProducerId; the block is committed to
// the metadata log first, so no id is ever given twice.
func init() { register(kmsg.AllocateProducerIDs, 0, 0, handleAllocateProducerIDs) }

func handleAllocateProducerIDs(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AllocateProducerIDsRequest)
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	start, n, err := s.b.AllocateProducerIDBlock(ctx)
	resp.ErrorCode = errCode(err)
	if err == nil {
		resp.ProducerIDStart, resp.ProducerIDLen = start, n
	}
	return resp, nil
}
