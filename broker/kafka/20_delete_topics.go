package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics v0-6: by name, or by name or topic id (v6+).
func init() { register(kmsg.DeleteTopics, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: kmsg.StringPtr(n)})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var err error
		if tg.name == nil || *tg.name == "" {
			if t, ok := s.b.TopicByID(tg.id); ok && tg.id != ([16]byte{}) {
				st.Topic = kmsg.StringPtr(t.Name)
				err = s.b.DeleteTopic(ctx, t.Name)
			} else {
				err = kerr.UnknownTopicID
			}
		} else {
			if t, ok := s.b.Topic(*tg.name); ok {
				st.TopicID = t.ID
			}
			err = s.b.DeleteTopic(ctx, *tg.name)
		}
		st.ErrorCode = errCode(err)
		if req.Version >= 5 {
			st.ErrorMessage = errMsg(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
