package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs v0-4: topic and broker configs with their sources,
// synonyms (v1+) and documentation (v3+), from the broker's config specs.
func init() { register(kmsg.DescribeConfigs, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		cfgs, err := s.b.DescribeConfigs(rr.ResourceType, rr.ResourceName, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		sr.ErrorCode, sr.ErrorMessage = errCode(err), errMsg(err)
		sr.Configs = cfgs
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
