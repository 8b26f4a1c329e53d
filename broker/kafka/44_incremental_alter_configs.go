package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs v0-1: set, delete, append to and subtract from
// (list configs) individual configs of a topic or the broker; validate_only.
func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []ConfigChange
		for _, c := range rr.Configs {
			changes = append(changes, ConfigChange{Name: c.Name, Value: c.Value, Op: int8(c.Op)})
		}
		err := s.b.AlterConfigs(ctx, rr.ResourceType, rr.ResourceName, changes, true, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errCode(err), errMsg(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
