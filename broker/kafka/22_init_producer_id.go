package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID v0-5 for idempotent producers: a new producer id with
// epoch 0 from blocks the broker persists, so ids never repeat across
// restarts. As in Kafka, a non-transactional producer that sends its current
// id and epoch (v3+, KIP-360) gets a fresh id; it bumps its own epoch
// locally otherwise. Transactional ids need the transaction coordinator,
// which does not exist yet: they are refused.
func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

func handleInitProducerID(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	id, err := s.b.AllocateProducerID(ctx)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
