package kafka

import (
	"context"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerRegistration v0-4: a broker of the cluster registers its endpoint
// and rack with the active controller, which answers with the broker epoch
// of this registration (KRaft's broker lifecycle). Other nodes answer
// NOT_CONTROLLER, except to a broker-only node's join (a registration with
// only its METADATA listener), which they forward to the controller. The
// first other listener is the one published to clients.
func init() { register(kmsg.BrokerRegistration, 0, 4, handleBrokerRegistration) }

func handleBrokerRegistration(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.BrokerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	resp.BrokerEpoch = -1
	reg := BrokerRegistration{ID: req.BrokerID, ClusterID: req.ClusterID, JoinOnly: true}
	for _, l := range req.Listeners {
		switch {
		case l.Name == MetadataListener:
			reg.Observer = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		case reg.JoinOnly:
			reg.Host, reg.Port, reg.JoinOnly = l.Host, int32(l.Port), false
		}
	}
	if reg.JoinOnly && reg.Observer == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
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
