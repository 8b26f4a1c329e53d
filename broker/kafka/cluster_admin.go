package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ClusterAdmin is what the cluster administration APIs (ElectLeaders,
// AlterPartitionReassignments, ListPartitionReassignments) need from the
// broker, beside Backend. A Backend without it answers them with
// UNSUPPORTED_VERSION.
type ClusterAdmin interface {
	// Reassign starts (replicas non-nil) or cancels (nil) the reassignment
	// of a partition on the active controller. allowRFChange false refuses
	// a target of another size with INVALID_REPLICATION_FACTOR.
	Reassign(ctx context.Context, topic string, partition int32, replicas []int32, allowRFChange bool) error
	// Reassignments lists the reassignments in progress; parts nil: all,
	// else only those topics (and, when the list is non-nil, partitions).
	Reassignments(parts map[string][]int32) []Reassignment
	// ElectLeaders elects the leaders of the partitions (nil: all) as
	// Kafka's ElectLeaders does (electionType 0 PREFERRED, 1 UNCLEAN), on the
	// active controller. The result has an error (or nil) per partition.
	ElectLeaders(ctx context.Context, electionType int8, parts map[string][]int32) (map[string]map[int32]error, error)
	// IsController reports whether this node is the active controller.
	IsController() bool
}

// Reassignment is one partition's reassignment in progress.
type Reassignment struct {
	Topic                    string
	Partition                int32
	Replicas, Adding, Remove []int32
}

func clusterAdmin(s *Server) (ClusterAdmin, error) {
	ca, ok := s.b.(ClusterAdmin)
	if !ok {
		return nil, fmt.Errorf("%w: cluster administration is not available", kerr.UnsupportedVersion)
	}
	if !ca.IsController() {
		return nil, kerr.NotController
	}
	return ca, nil
}
