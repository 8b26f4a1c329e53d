package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions v0-5: the API keys and version ranges registered in this
// package (plus ServerConfig.Extra). A version we cannot parse is answered in
// server.go with a v0 body and UNSUPPORTED_VERSION, per KIP-511.
func init() {
	register(kmsg.ApiVersions, 0, (&kmsg.ApiVersionsRequest{}).MaxVersion(), handleApiVersions)
}

func handleApiVersions(_ context.Context, s *Server, _ *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = s.versions()
	return resp, nil
}
