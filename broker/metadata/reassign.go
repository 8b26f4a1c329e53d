package metadata

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Partition reassignment, as KRaft does it. A reassignment from the
// original replicas (ORS) to a target (TRS) first widens the replica set to
// TRS followed by ORS-TRS, with AddingReplicas = TRS-ORS (they start out of
// sync, open a log and fetch from the leader) and RemovingReplicas =
// ORS-TRS. Once every target replica is in the ISR the controller completes
// it: Replicas = TRS, the removed replicas leave the ISR (and drop their
// logs), and the leader moves if it was not a target. Cancelling reverts to
// the original replicas.

// Reassigning reports whether a reassignment of p is in progress.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// OriginalReplicas are the replicas before the reassignment in progress
// (Replicas without the adding ones); Replicas when there is none.
func (p Partition) OriginalReplicas() []int32 {
	return without(p.Replicas, p.AddingReplicas)
}

// TargetReplicas are the replicas the reassignment in progress leads to
// (Replicas without the removing ones); Replicas when there is none.
func (p Partition) TargetReplicas() []int32 {
	return without(p.Replicas, p.RemovingReplicas)
}

func without(from, drop []int32) []int32 {
	out := make([]int32, 0, len(from))
	for _, r := range from {
		if !slices.Contains(drop, r) {
			out = append(out, r)
		}
	}
	return out
}

func checkReassigning(p Partition) error {
	for i, r := range p.Replicas {
		if slices.Contains(p.Replicas[:i], r) {
			return fmt.Errorf("%w: duplicate replica %d", kerr.InvalidReplicaAssignment, r)
		}
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(p.Replicas, r) || slices.Contains(p.RemovingReplicas, r) {
			return fmt.Errorf("%w: adding replica %d is not a replica, or removed too", kerr.InvalidReplicaAssignment, r)
		}
	}
	for _, r := range p.RemovingReplicas {
		if !slices.Contains(p.Replicas, r) {
			return fmt.Errorf("%w: removing replica %d is not a replica", kerr.InvalidReplicaAssignment, r)
		}
	}
	if len(p.RemovingReplicas) >= len(p.Replicas) {
		return fmt.Errorf("%w: a reassignment cannot remove every replica", kerr.InvalidReplicaAssignment)
	}
	return nil
}

// Reassign starts moving p to the target replicas (in preferred order) and
// returns the partition to commit. A target that needs no new replica (a
// reorder, or only removals of replicas while the rest are in sync)
// completes at once. live reports unfenced brokers, for the leader.
func Reassign(p Partition, target []int32, live func(int32) bool) (Partition, error) {
	if len(target) == 0 {
		return p, fmt.Errorf("%w: empty replica list", kerr.InvalidReplicaAssignment)
	}
	for i, r := range target {
		if r < 0 || slices.Contains(target[:i], r) {
			return p, fmt.Errorf("%w: duplicate or negative broker in %v", kerr.InvalidReplicaAssignment, target)
		}
	}
	orig := p.OriginalReplicas()
	np := clonePartitions([]Partition{p})[0]
	np.AddingReplicas = without(target, orig)
	np.RemovingReplicas = without(orig, target)
	np.Replicas = append(slices.Clone(target), np.RemovingReplicas...)
	np.ISR = keepOnly(p.InSync(), np.Replicas)
	if len(np.AddingReplicas) == 0 {
		np.AddingReplicas = nil
	}
	if len(np.RemovingReplicas) == 0 {
		np.RemovingReplicas = nil
	}
	np.PartitionEpoch++
	if len(np.ISR) == 0 {
		// Only out-of-sync replicas were left: keep the old ISR's members
		// that stay, as there are none, the original replicas stay in sync
		// (nothing better is known) until the move completes.
		np.ISR = keepOnly(orig, np.Replicas)
	}
	np = keepLeader(p, np, live)
	if done, ok := CompleteReassignment(np, live); ok {
		return done, nil
	}
	return np, nil
}

// keepOnly returns the members of set that are in keep, in set's order.
func keepOnly(set, keep []int32) []int32 {
	out := []int32{}
	for _, r := range set {
		if slices.Contains(keep, r) {
			out = append(out, r)
		}
	}
	return out
}

// keepLeader keeps old's leader in np if it is still a live in-sync
// replica, else elects one (new leader epoch).
func keepLeader(old, np Partition, live func(int32) bool) Partition {
	if old.Leader >= 0 && slices.Contains(np.ISR, old.Leader) && live(old.Leader) {
		np.Leader = old.Leader
		return np
	}
	np.Leader = -2 // force ElectLeader to see a change
	e, _ := ElectLeader(np, live, false)
	e.LeaderEpoch = old.LeaderEpoch + 1
	if e.Leader == old.Leader {
		e.LeaderEpoch = old.LeaderEpoch
	}
	e.PartitionEpoch = np.PartitionEpoch
	return e
}

// CompleteReassignment finishes p's reassignment when every target replica
// is in the ISR (as KRaft's maybeCompleteReassignment): Replicas become the
// target, the removed replicas leave the ISR and the leader moves to a
// target replica if it was not one. ok is false when p cannot complete yet.
func CompleteReassignment(p Partition, live func(int32) bool) (Partition, bool) {
	if !p.Reassigning() {
		return p, false
	}
	target := p.TargetReplicas()
	isr := keepOnly(p.InSync(), target)
	if len(isr) == 0 {
		return p, false
	}
	for _, r := range target {
		if !slices.Contains(isr, r) {
			return p, false
		}
	}
	np := clonePartitions([]Partition{p})[0]
	np.Replicas, np.ISR = target, isr
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	np.PartitionEpoch++
	np = keepLeader(p, np, live)
	return np, true
}

// CancelReassignment reverts p to its original replicas: the adding ones
// leave (and drop their logs) and the leader moves if it was one of them.
// When only adding replicas were in sync the original replicas are taken
// back into the ISR, as Kafka does (an unclean revert).
func CancelReassignment(p Partition, live func(int32) bool) (Partition, error) {
	if !p.Reassigning() {
		return p, fmt.Errorf("%w: no reassignment in progress", kerr.NoReassignmentInProgress)
	}
	orig := p.OriginalReplicas()
	np := clonePartitions([]Partition{p})[0]
	np.Replicas = orig
	np.ISR = keepOnly(p.InSync(), orig)
	if len(np.ISR) == 0 {
		np.ISR = slices.Clone(orig)
	}
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	np.PartitionEpoch++
	return keepLeader(p, np, live), nil
}

// ReassignmentChanges returns the partition_change records that complete
// every reassignment whose target replicas are all in sync.
func ReassignmentChanges(s *State, live func(int32) bool) []Record {
	var out []Record
	for _, t := range s.Topics() {
		var changed []Partition
		for _, p := range t.Partitions {
			if np, ok := CompleteReassignment(p, live); ok {
				changed = append(changed, np)
			}
		}
		if len(changed) > 0 {
			out = append(out, Record{Type: PartitionChange, Topic: t.Name, Partitions: changed})
		}
	}
	return out
}
