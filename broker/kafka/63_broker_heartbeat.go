package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerHeartbeat v0-1: a registered broker tells the active controller it
// is alive; the controller fences brokers whose heartbeats stop for
// broker.session.timeout.ms and unfences them when they resume.
func init() { register(kmsg.BrokerHeartbeat, 0, 1, handleBrokerHeartbeat) }

func handleBrokerHeartbeat(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.BrokerHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	fenced, err := s.b.BrokerHeartbeat(ctx, req.BrokerID, req.BrokerEpoch, req.WantFence)
	resp.ErrorCode = errCode(err)
	resp.IsFenced = fenced || err != nil
	resp.IsCaughtUp = err == nil
	return resp, nil
}
