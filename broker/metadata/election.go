package metadata

import "slices"

// ElectLeader picks a partition's leader among the live replicas: the
// preferred replica (the first) when it is live and in sync, else the first
// live in-sync replica in replica order; with unclean set, when no in-sync
// replica is live, the first live replica at all (which may lose records, as
// unclean.leader.election.enable warns). The result has the leader epoch and
// partition epoch bumped when the leader changes and Leader -1 when no
// replica can lead. changed reports whether p needs a partition_change.
func ElectLeader(p Partition, live func(int32) bool, unclean bool) (out Partition, changed bool) {
	out = clonePartitions([]Partition{p})[0]
	isr := p.InSync()
	leader := int32(-1)
	for _, r := range p.Replicas {
		if live(r) && slices.Contains(isr, r) {
			leader = r
			break
		}
	}
	if leader < 0 && unclean {
		for _, r := range p.Replicas {
			if live(r) {
				leader = r
				out.ISR = []int32{r}
				break
			}
		}
	}
	if leader == p.Leader && slices.Equal(out.ISR, p.ISR) {
		return p, false
	}
	out.Leader = leader
	if leader != p.Leader {
		out.LeaderEpoch++
	}
	out.PartitionEpoch++
	return out, true
}

// FenceChanges returns the partition_change records that fencing broker id
// causes: it leaves every ISR (unless it is the last member: then the ISR
// keeps it, so that it is the one clean choice when it returns, as Kafka
// does) and every partition it led gets a new leader from the ISR.
// live reports the other brokers' state; unclean tells, per topic, whether
// unclean.leader.election.enable is on.
func FenceChanges(s *State, id int32, live func(int32) bool, unclean func(topic string) bool) []Record {
	alive := func(r int32) bool { return r != id && live(r) }
	var out []Record
	for _, t := range s.Topics() {
		var changed []Partition
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, id) {
				continue
			}
			np := p
			isr := p.InSync()
			if slices.Contains(isr, id) && len(isr) > 1 {
				np = clonePartitions([]Partition{p})[0]
				np.ISR = slices.DeleteFunc(slices.Clone(isr), func(r int32) bool { return r == id })
				np.PartitionEpoch++
			}
			if np.Leader == id || np.Leader < 0 {
				np, _ = ElectLeader(np, alive, unclean(t.Name))
			}
			if np.Leader != p.Leader || !slices.Equal(np.ISR, p.ISR) {
				changed = append(changed, np)
			}
		}
		if len(changed) > 0 {
			out = append(out, Record{Type: PartitionChange, Topic: t.Name, Partitions: changed})
		}
	}
	return out
}

// OfflineChanges elects leaders for partitions without one (after a broker
// comes back) and, with preferred set, moves leadership back to each
// partition's preferred replica where it is live and in sync (Kafka's
// preferred leader election).
func OfflineChanges(s *State, live func(int32) bool, unclean func(topic string) bool, preferred bool) []Record {
	var out []Record
	for _, t := range s.Topics() {
		var changed []Partition
		for _, p := range t.Partitions {
			if p.Leader >= 0 && !(preferred && p.Leader != p.Replicas[0]) {
				continue
			}
			np, ok := ElectLeader(p, live, unclean(t.Name))
			if p.Leader >= 0 && np.Leader != p.Replicas[0] {
				continue // the preferred replica cannot lead now; leave it be
			}
			if ok && np.Leader >= 0 {
				changed = append(changed, np)
			}
		}
		if len(changed) > 0 {
			out = append(out, Record{Type: PartitionChange, Topic: t.Name, Partitions: changed})
		}
	}
	return out
}
