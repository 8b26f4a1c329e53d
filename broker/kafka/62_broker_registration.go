package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerRegistration v0-4: a broker of the cluster registers its endpoint
// and rack with the active controller, which answers with the broker epoch
// of this registration (KRaft's broker lifecycle). Other nodes answer
// NOT_CONTROLLER. The first listener is the one published to clients.
func init() { register(kmsg.BrokerRegistration, 0, 4, handleBrokerRegistration) }

func handleBrokerRegistration(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.BrokerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	resp.BrokerEpoch = -1
	reg := BrokerRegistration{ID: req.BrokerID, ClusterID: req.ClusterID}
	if len(req.Listeners) > 0 {
		reg.Host, reg.Port = req.Listeners[0].Host, int32(req.Listeners[0].Port)
	}
	if req.Rack != nil {
		reg.Rack = *req.Rack
	}
	epoch, err := s.b.RegisterBroker(ctx, reg)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp, nil
	}
	resp.BrokerEpoch = epoch
	return resp, nil
}
