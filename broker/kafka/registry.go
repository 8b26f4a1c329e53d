package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc answers one decoded request (its Version set). A nil response
// means none is sent (Produce with acks=0); an error closes the connection.
type handlerFunc func(ctx context.Context, s *Server, rc *reqCtx, req kmsg.Request) (kmsg.Response, error)

type api struct {
	min, max int16
	handle   handlerFunc
}

// apis is filled by the init of each API's file and read-only afterwards.
var apis = map[int16]api{}

func register(key kmsg.Key, min, max int16, h handlerFunc) {
	if _, dup := apis[int16(key)]; dup {
		panic("kafka: API registered twice: " + key.Name())
	}
	apis[int16(key)] = api{min: min, max: max, handle: h}
}

// ExtraAPI is an API implemented outside this package (the group
// coordinator's), wired in through ServerConfig.
type ExtraAPI struct {
	Key      kmsg.Key
	Min, Max int16
	// Handle answers req (Version set) with the response of that version.
	// ctx ends when the connection closes or the server stops.
	Handle func(ctx context.Context, client ClientInfo, req kmsg.Request) (kmsg.Response, error)
}

// ClientInfo identifies the client of a request.
type ClientInfo struct {
	ClientID string
	Host     string
}

// lookup returns the handler of key on this server.
func (s *Server) lookup(key int16) (api, bool) {
	if a, ok := s.extra[key]; ok {
		return a, true
	}
	a, ok := apis[key]
	return a, ok
}

// versions lists every API key this server answers, sorted, for ApiVersions.
func (s *Server) versions() []kmsg.ApiVersionsResponseApiKey {
	seen := map[int16]api{}
	for k, a := range apis {
		seen[k] = a
	}
	for k, a := range s.extra {
		seen[k] = a
	}
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(seen))
	for k, a := range seen {
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, a.min, a.max
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	return out
}

// Registered reports the versions of key implemented in this package (not
// the APIs added through ServerConfig.Extra).
func Registered(key kmsg.Key) (min, max int16, ok bool) {
	a, ok := apis[int16(key)]
	return a.min, a.max, ok
}
