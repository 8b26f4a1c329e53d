package metadata

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ElectPreferred moves p's leadership to its preferred replica (the first),
// as ElectLeaders with PREFERRED does: ELECTION_NOT_NEEDED when it leads
// already, PREFERRED_LEADER_NOT_AVAILABLE when it is fenced or out of sync.
func ElectPreferred(p Partition, live func(int32) bool) (Partition, error) {
	pref := p.Replicas[0]
	if p.Leader == pref {
		return p, fmt.Errorf("%w: %d leads already", kerr.ElectionNotNeeded, pref)
	}
	if !live(pref) || !slices.Contains(p.InSync(), pref) {
		return p, fmt.Errorf("%w: preferred replica %d is not live and in sync", kerr.PreferredLeaderNotAvailable, pref)
	}
	np := clonePartitions([]Partition{p})[0]
	np.Leader = pref
	np.LeaderEpoch++
	np.PartitionEpoch++
	return np, nil
}

// ElectUnclean elects a leader for a partition without a live one, as
// ElectLeaders with UNCLEAN does: a live in-sync replica if there is one,
// else any live replica (which may lose records). ELECTION_NOT_NEEDED when a
// live leader exists, ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is live.
func ElectUnclean(p Partition, live func(int32) bool) (Partition, error) {
	if p.Leader >= 0 && live(p.Leader) {
		return p, fmt.Errorf("%w: %d leads", kerr.ElectionNotNeeded, p.Leader)
	}
	np, _ := ElectLeader(p, live, true)
	if np.Leader < 0 {
		return p, fmt.Errorf("%w: no replica of the partition is live", kerr.EligibleLeadersNotAvailable)
	}
	return np, nil
}

// LeaderImbalance is, per broker, how many partitions prefer it as leader
// (it is their first replica) and how many of those it does not lead.
type LeaderImbalance struct {
	Preferred, NotLed int
}

// Ratio is NotLed/Preferred (0 for a broker that no partition prefers).
func (l LeaderImbalance) Ratio() float64 {
	if l.Preferred == 0 {
		return 0
	}
	return float64(l.NotLed) / float64(l.Preferred)
}

// LeaderImbalances counts each broker's preferred and lost leaderships.
func LeaderImbalances(s *State) map[int32]LeaderImbalance {
	out := map[int32]LeaderImbalance{}
	for _, t := range s.Topics() {
		for _, p := range t.Partitions {
			pref := p.Replicas[0]
			li := out[pref]
			li.Preferred++
			if p.Leader != pref {
				li.NotLed++
			}
			out[pref] = li
		}
	}
	return out
}

// RebalanceChanges is the automatic preferred-leader election
// (auto.leader.rebalance.enable): for every broker whose share of preferred
// partitions it does not lead is above percent, the partitions that prefer
// it move their leadership back where it is live and in sync. Partitions
// being reassigned are left alone, as Kafka does.
func RebalanceChanges(s *State, live func(int32) bool, percent int) []Record {
	imb := LeaderImbalances(s)
	var out []Record
	for _, t := range s.Topics() {
		var changed []Partition
		for _, p := range t.Partitions {
			pref := p.Replicas[0]
			if p.Reassigning() || imb[pref].Ratio()*100 <= float64(percent) {
				continue
			}
			if np, err := ElectPreferred(p, live); err == nil {
				changed = append(changed, np)
			}
		}
		if len(changed) > 0 {
			out = append(out, Record{Type: PartitionChange, Topic: t.Name, Partitions: changed})
		}
	}
	return out
}
