package metadata

import (
	"encoding/json"
	"fmt"
	"maps"
)

// snapshot is the serialized form of a State (a Raft snapshot's payload).
type snapshot struct {
	Version        int               `json:"version"`
	Topics         []*Topic          `json:"topics"`
	BrokerConfigs  map[string]string `json:"broker_configs,omitempty"`
	NextProducerID int64             `json:"next_producer_id"`
	Applied        int64             `json:"applied"`
	LegacyImported bool              `json:"legacy_imported,omitempty"`
	Brokers        []BrokerInfo      `json:"brokers,omitempty"`
}

const snapshotVersion = 1

// Snapshot serializes the whole state.
func (s *State) Snapshot() ([]byte, error) {
	return json.Marshal(snapshot{
		Version:        snapshotVersion,
		Topics:         s.Topics(),
		BrokerConfigs:  s.brokerConfigs,
		NextProducerID: s.nextProducerID,
		Applied:        s.applied,
		LegacyImported: s.legacyImported,
		Brokers:        s.Brokers(),
	})
}

// Restore returns the State a Snapshot serialized.
func Restore(data []byte) (*State, error) {
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, fmt.Errorf("metadata snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("metadata snapshot: unknown version %d", snap.Version)
	}
	s := New()
	for _, t := range snap.Topics {
		if t == nil || t.Name == "" {
			return nil, fmt.Errorf("metadata snapshot: a topic without a name")
		}
		t.Partitions = clonePartitions(t.Partitions)
		t.Configs = maps.Clone(t.Configs)
		s.topics[t.Name] = t
		s.byID[t.ID] = t.Name
	}
	if snap.BrokerConfigs != nil {
		s.brokerConfigs = snap.BrokerConfigs
	}
	s.nextProducerID = snap.NextProducerID
	s.applied = snap.Applied
	s.legacyImported = snap.LegacyImported
	for _, b := range snap.Brokers {
		s.brokers[b.ID] = &b
	}
	return s, nil
}
