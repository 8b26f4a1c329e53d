package kafka

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ElectLeaders v0-2: preferred (v0+) and unclean (v1+) leader election on
// the active controller (KIP-183, KIP-460); other nodes answer
// NOT_CONTROLLER. With null topics every partition is considered and only
// the partitions whose result is not ELECTION_NOT_NEEDED are listed, as
// Kafka does.
func init() { register(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

var errInvalidElectionType = fmt.Errorf("%w: election type must be 0 (PREFERRED) or 1 (UNCLEAN)", kerr.InvalidRequest)

func handleElectLeaders(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	var parts map[string][]int32
	if req.Topics != nil {
		parts = map[string][]int32{}
		for _, t := range req.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
	}
	typ := req.ElectionType
	if req.Version == 0 {
		typ = 0
	}
	fail := func(err error) (kmsg.Response, error) {
		if req.Version >= 1 {
			resp.ErrorCode = errCode(err)
			return resp, nil
		}
		for t, ps := range parts { // v0: the error goes on every partition
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t
			for _, p := range ps {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, errCode(err), errMsg(err)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	ca, err := clusterAdmin(s)
	if err != nil {
		return fail(err)
	}
	if typ != 0 && typ != 1 {
		return fail(errInvalidElectionType)
	}
	results, err := ca.ElectLeaders(ctx, typ, parts)
	if err != nil {
		return fail(err)
	}
	topics := make([]string, 0, len(results))
	for t := range results {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t
		ps := make([]int32, 0, len(results[t]))
		for p := range results[t] {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		for _, p := range ps {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			rp.ErrorCode, rp.ErrorMessage = errCode(results[t][p]), errMsg(results[t][p])
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
