package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs v0-2: replace every override of a topic (or the dynamic
// broker configs) with the entries given; validate_only.
func init() { register(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []ConfigChange
		for _, c := range rr.Configs {
			changes = append(changes, ConfigChange{Name: c.Name, Value: c.Value, Op: OpSet})
		}
		err := s.b.AlterConfigs(ctx, rr.ResourceType, rr.ResourceName, changes, false, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errCode(err), errMsg(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
