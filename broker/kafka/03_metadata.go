package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/metadata"
)

// Metadata v0-13: brokers (the advertised address), cluster id, controller,
// and topics by name or id (v10+) with their partitions, leader epochs and
// topic ids. Unknown topics are auto-created when the request allows it
// (always before v4) and auto.create.topics.enable is true.
func init() { register(kmsg.Metadata, 0, 13, handleMetadata) }

// authorizedOpsUnknown is Kafka's "not requested" value for authorized operations.
const authorizedOpsUnknown = -2147483648

func handleMetadata(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	for _, b := range s.b.Brokers() {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			br.Rack = kmsg.StringPtr(b.Rack)
		}
		resp.Brokers = append(resp.Brokers, br)
	}
	cid := s.b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = s.b.ControllerID()
	resp.AuthorizedOperations = authorizedOpsUnknown

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range s.b.Topics() {
			resp.Topics = append(resp.Topics, topicMetadata(s, t))
		}
		return resp, nil
	}
	autoCreate := (req.Version < 4 || req.AllowAutoTopicCreation) && s.b.AutoCreateTopics()
	for _, rt := range req.Topics {
		if rt.Topic == nil || *rt.Topic == "" {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			if t, ok := s.b.TopicByID(rt.TopicID); ok && rt.TopicID != ([16]byte{}) {
				mt = topicMetadata(s, t)
			} else {
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.AuthorizedOperations = authorizedOpsUnknown
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		name := *rt.Topic
		t, ok := s.b.Topic(name)
		if !ok && autoCreate {
			var err error
			t, err = s.b.CreateTopic(ctx, CreateTopic{Name: name, Partitions: -1, ReplicationFactor: -1})
			if errors.Is(err, kerr.TopicAlreadyExists) {
				t, ok = s.b.Topic(name)
			} else if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = kmsg.StringPtr(name)
				mt.ErrorCode = errCode(err)
				mt.AuthorizedOperations = authorizedOpsUnknown
				resp.Topics = append(resp.Topics, mt)
				continue
			} else {
				ok = true
			}
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			mt.AuthorizedOperations = authorizedOpsUnknown
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, topicMetadata(s, t))
	}
	return resp, nil
}

func topicMetadata(s *Server, t *metadata.Topic) kmsg.MetadataResponseTopic {
	live := map[int32]bool{}
	for _, b := range s.b.Brokers() {
		live[b.ID] = true
	}
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = isInternal(t.Name)
	mt.AuthorizedOperations = authorizedOpsUnknown
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.ID
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.InSync()
		mp.OfflineReplicas = []int32{}
		for _, r := range p.Replicas {
			if !live[r] {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if p.Leader < 0 || !live[p.Leader] {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func isInternal(topic string) bool {
	return topic == "__consumer_offsets" || topic == "__transaction_state"
}
