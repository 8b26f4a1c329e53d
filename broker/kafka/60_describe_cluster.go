package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-2: cluster id, the active controller and the live brokers.
func init() { register(kmsg.DescribeCluster, 0, 2, handleDescribeCluster) }

func handleDescribeCluster(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	resp.ClusterID = s.b.ClusterID()
	resp.ControllerID = s.b.ControllerID()
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	for _, b := range s.b.Brokers() {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			br.Rack = kmsg.StringPtr(b.Rack)
		}
		resp.Brokers = append(resp.Brokers, br)
	}
	return resp, nil
}
