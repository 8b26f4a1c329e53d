package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-2: cluster id, controller and brokers (this node).
func init() { register(kmsg.DescribeCluster, 0, 2, handleDescribeCluster) }

func handleDescribeCluster(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.ClusterID = s.b.ClusterID()
	resp.ControllerID = s.b.NodeID()
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	host, port := s.b.Advertised()
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port, br.Rack = s.b.NodeID(), host, port, s.b.Rack()
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	return resp, nil
}
