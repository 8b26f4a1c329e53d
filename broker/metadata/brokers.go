package metadata

import (
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// BrokerInfo is a broker's registration: where clients reach it, its rack
// (zone) and whether the controller has fenced it (no heartbeat within the
// session timeout). Epoch tells registrations of one node id apart: each
// start of the broker registers anew with a larger epoch (KRaft's incarnation).
type BrokerInfo struct {
	ID     int32  `json:"id"`
	Epoch  int64  `json:"epoch"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced,omitempty"`
}

// Broker returns the registration of a node.
func (s *State) Broker(id int32) (BrokerInfo, bool) {
	b, ok := s.brokers[id]
	if !ok {
		return BrokerInfo{}, false
	}
	return *b, true
}

// Brokers returns every registered broker sorted by id, fenced ones too.
func (s *State) Brokers() []BrokerInfo {
	out := make([]BrokerInfo, 0, len(s.brokers))
	for _, b := range s.brokers {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *State) checkBroker(r Record) error {
	if r.Broker == nil || r.Broker.ID < 0 {
		return fmt.Errorf("%w: broker record without a broker", kerr.InvalidRequest)
	}
	old, ok := s.brokers[r.Broker.ID]
	switch r.Type {
	case RegisterBroker:
		if ok && r.Broker.Epoch <= old.Epoch {
			return fmt.Errorf("%w: broker %d registration epoch %d is not above %d", kerr.StaleBrokerEpoch, r.Broker.ID, r.Broker.Epoch, old.Epoch)
		}
		if r.Broker.Host == "" || r.Broker.Port <= 0 {
			return fmt.Errorf("%w: broker %d registers without an endpoint", kerr.InvalidRequest, r.Broker.ID)
		}
	default:
		if !ok {
			return fmt.Errorf("%w: broker %d is not registered", kerr.BrokerIDNotRegistered, r.Broker.ID)
		}
		if old.Epoch != r.Broker.Epoch {
			return fmt.Errorf("%w: broker %d epoch %d, registered %d", kerr.StaleBrokerEpoch, r.Broker.ID, r.Broker.Epoch, old.Epoch)
		}
	}
	return nil
}

func (s *State) applyBroker(r Record) {
	switch r.Type {
	case RegisterBroker:
		b := *r.Broker
		b.Fenced = true // until its first heartbeat is accepted
		s.brokers[b.ID] = &b
	case FenceBroker:
		b := *s.brokers[r.Broker.ID]
		b.Fenced = true
		s.brokers[b.ID] = &b
	case UnfenceBroker:
		b := *s.brokers[r.Broker.ID]
		b.Fenced = false
		s.brokers[b.ID] = &b
	}
}

func (s *State) checkPartitionChange(r Record) error {
	t, ok := s.topics[r.Topic]
	if !ok {
		return fmt.Errorf("%w: %q", kerr.UnknownTopicOrPartition, r.Topic)
	}
	for _, p := range r.Partitions {
		if p.ID < 0 || int(p.ID) >= len(t.Partitions) {
			return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, r.Topic, p.ID)
		}
		if len(p.Replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", kerr.InvalidReplicaAssignment, p.ID)
		}
		old := t.Partitions[p.ID]
		if p.LeaderEpoch < old.LeaderEpoch {
			return fmt.Errorf("%w: leader epoch %d of %s-%d below %d", kerr.FencedLeaderEpoch, p.LeaderEpoch, r.Topic, p.ID, old.LeaderEpoch)
		}
		if p.Leader >= 0 && !slices.Contains(p.Replicas, p.Leader) {
			return fmt.Errorf("%w: leader %d of %s-%d is not a replica", kerr.InvalidReplicaAssignment, p.Leader, r.Topic, p.ID)
		}
		for _, r := range p.ISR {
			if !slices.Contains(p.Replicas, r) {
				return fmt.Errorf("%w: in-sync replica %d is not a replica", kerr.InvalidReplicaAssignment, r)
			}
		}
		if err := checkReassigning(p); err != nil {
			return err
		}
	}
	return nil
}
