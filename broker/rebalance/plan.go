// Package rebalance computes and applies an even, rack-aware replica
// assignment for a Kafka cluster (what `sluice cluster rebalance` does, in
// the spirit of kafka-reassign-partitions.sh and Cruise Control's basic
// goals): every broker ends up with the same number of replicas and of
// preferred leaderships (within one), each partition's replicas spread over
// as many racks (zones) as it can, and as few replicas as possible move.
//
// Plan is pure; Run reads the cluster over the Kafka protocol, applies the
// plan through AlterPartitionReassignments under a replication throttle
// and, when asked, waits for it and elects the preferred leaders. It works
// against any Kafka cluster that implements those APIs, Sluice or not.
package rebalance

import (
	"slices"
	"sort"
)

// Broker is a broker as the plan sees it.
type Broker struct {
	ID   int32
	Rack string
}

// Partition is a partition's current replicas, preferred leader first.
type Partition struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// Move is one partition's reassignment: From is its replica list now, To
// the one the plan gives it (a reorder only moves the preferred leader).
type Move struct {
	Topic     string
	Partition int32
	From, To  []int32
}

// Moved are the replicas To has that From has not (the data to copy).
func (m Move) Moved() []int32 {
	var out []int32
	for _, r := range m.To {
		if !slices.Contains(m.From, r) {
			out = append(out, r)
		}
	}
	return out
}

// Load is a broker's share of the assignment.
type Load struct {
	Replicas int `json:"replicas"`
	Leaders  int `json:"leaders"` // preferred leaderships (first replica)
}

// Loads counts replicas and preferred leaderships per broker (every broker
// listed, those with none too).
func Loads(brokers []Broker, parts []Partition) map[int32]Load {
	out := map[int32]Load{}
	for _, b := range brokers {
		out[b.ID] = Load{}
	}
	for _, p := range parts {
		for i, r := range p.Replicas {
			l := out[r]
			l.Replicas++
			if i == 0 {
				l.Leaders++
			}
			out[r] = l
		}
	}
	return out
}

// Plan returns the moves that make the assignment even and rack-aware. It
// first fixes partitions whose replicas share racks they need not share,
// then moves replicas from the most to the least loaded brokers (followers
// before preferred leaders, never reducing a partition's rack spread), then
// evens out preferred leaderships by reordering replica lists, which moves
// no data. Replicas on brokers not in brokers (gone) are moved off them.
// The result is sorted by topic and partition.
func Plan(brokers []Broker, parts []Partition) []Move {
	if len(brokers) == 0 {
		return nil
	}
	rack := map[int32]string{}
	racks := map[string]bool{}
	for _, b := range brokers {
		rack[b.ID] = b.Rack
		racks[b.Rack] = true
	}
	ids := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	cur := make([][]int32, len(parts))
	load := map[int32]int{}
	for _, id := range ids {
		load[id] = 0
	}
	for i, p := range parts {
		cur[i] = slices.Clone(p.Replicas)
		for _, r := range cur[i] {
			load[r]++
		}
	}
	spread := func(reps []int32) int {
		seen := map[string]bool{}
		for _, r := range reps {
			if rr, ok := rack[r]; ok {
				seen[rr] = true
			}
		}
		return len(seen)
	}
	known := func(r int32) bool { _, ok := rack[r]; return ok }
	// leastLoaded is the live broker with the fewest replicas that may take
	// a replica of reps in place of position pos.
	leastLoaded := func(reps []int32, pos int, ok func(int32) bool) int32 {
		best := int32(-1)
		for _, id := range ids {
			if slices.Contains(reps, id) || !ok(id) {
				continue
			}
			if best < 0 || load[id] < load[best] {
				best = id
			}
		}
		return best
	}
	replace := func(i, pos int, to int32) {
		load[cur[i][pos]]--
		load[to]++
		cur[i][pos] = to
	}

	// 1. Replicas on unknown brokers, and racks shared needlessly.
	for i := range cur {
		for pos := range cur[i] {
			if !known(cur[i][pos]) {
				if to := leastLoaded(cur[i], pos, func(int32) bool { return true }); to >= 0 {
					replace(i, pos, to)
				}
			}
		}
		want := min(len(cur[i]), len(racks))
		for spread(cur[i]) < want {
			used := map[string]int{}
			for _, r := range cur[i] {
				used[rack[r]]++
			}
			// The busiest replica on a shared rack, followers first.
			pos := -1
			for j := len(cur[i]) - 1; j >= 0; j-- {
				if used[rack[cur[i][j]]] > 1 && (pos < 0 || load[cur[i][j]] > load[cur[i][pos]]) {
					pos = j
				}
			}
			to := leastLoaded(cur[i], pos, func(id int32) bool { return used[rack[id]] == 0 })
			if pos < 0 || to < 0 {
				break
			}
			replace(i, pos, to)
		}
	}

	// 2. Even replica counts.
	total := 0
	for _, id := range ids {
		total += load[id]
	}
	floor, ceil := total/len(ids), (total+len(ids)-1)/len(ids)
	for range total * len(ids) { // bounded; every move lowers the spread of loads
		src, dst := ids[0], ids[0]
		for _, id := range ids {
			if load[id] > load[src] {
				src = id
			}
			if load[id] < load[dst] {
				dst = id
			}
		}
		if load[src]-load[dst] <= 1 || load[src] <= ceil && load[dst] >= floor {
			break
		}
		if !moveOne(cur, load, ids, src, spread) {
			break
		}
	}

	// 3. Even preferred leaderships, by reordering.
	leaders := map[int32]int{}
	for _, reps := range cur {
		if len(reps) > 0 {
			leaders[reps[0]]++
		}
	}
	for range len(cur) * len(ids) {
		changed := false
		order := slices.Clone(ids)
		sort.SliceStable(order, func(a, b int) bool { return leaders[order[a]] > leaders[order[b]] })
		for _, src := range order {
			for i, reps := range cur {
				if len(reps) < 2 || reps[0] != src {
					continue
				}
				best := -1
				for j := 1; j < len(reps); j++ {
					if known(reps[j]) && leaders[reps[j]] < leaders[src]-1 && (best < 0 || leaders[reps[j]] < leaders[reps[best]]) {
						best = j
					}
				}
				if best > 0 {
					leaders[src]--
					leaders[reps[best]]++
					cur[i][0], cur[i][best] = cur[i][best], cur[i][0]
					changed = true
					break
				}
			}
			if changed {
				break
			}
		}
		if !changed {
			break
		}
	}

	var out []Move
	for i, p := range parts {
		if !slices.Equal(p.Replicas, cur[i]) {
			out = append(out, Move{Topic: p.Topic, Partition: p.Partition, From: slices.Clone(p.Replicas), To: cur[i]})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		return out[a].Topic < out[b].Topic || out[a].Topic == out[b].Topic && out[a].Partition < out[b].Partition
	})
	return out
}

// moveOne lowers src's load by one: it moves a replica to a broker with
// at least two fewer, or, when rack spread forbids every such move, moves
// one from a broker y with one fewer to such a broker and one from src to y.
func moveOne(cur [][]int32, load map[int32]int, ids []int32, src int32, spread func([]int32) int) bool {
	dsts := slices.Clone(ids)
	sort.SliceStable(dsts, func(a, b int) bool { return load[dsts[a]] < load[dsts[b]] })
	for _, dst := range dsts {
		if load[dst] > load[src]-2 {
			break
		}
		if moveTo(cur, load, src, dst, spread) {
			return true
		}
	}
	for _, y := range ids {
		if y == src || load[y] != load[src]-1 {
			continue
		}
		for _, dst := range dsts {
			if load[dst] > load[src]-2 {
				break
			}
			saved := make([][]int32, len(cur))
			for i := range cur {
				saved[i] = slices.Clone(cur[i])
			}
			ly, ld := load[y], load[dst]
			if moveTo(cur, load, y, dst, spread) && moveTo(cur, load, src, y, spread) {
				return true
			}
			copy(cur, saved)
			load[y], load[dst] = ly, ld
			load[src] = ly + 1
		}
	}
	return false
}

// moveTo moves one replica from src to dst where that keeps the
// partition's rack spread, followers before preferred leaders.
func moveTo(cur [][]int32, load map[int32]int, src, dst int32, spread func([]int32) int) bool {
	for _, followersOnly := range []bool{true, false} {
		for i, reps := range cur {
			pos := slices.Index(reps, src)
			if pos < 0 || (followersOnly && pos == 0) || slices.Contains(reps, dst) {
				continue
			}
			next := slices.Clone(reps)
			next[pos] = dst
			if spread(next) < spread(reps) {
				continue
			}
			cur[i] = next
			load[src]--
			load[dst]++
			return true
		}
	}
	return false
}
