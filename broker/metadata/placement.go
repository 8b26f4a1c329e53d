package metadata

import (
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// AssignReplicas places rf replicas for partitions [first, first+n) over the
// given (unfenced) brokers, rack-aware as Kafka does: the brokers are ordered
// alternating racks (zones), each partition's first replica (its preferred
// leader) walks that order, and the other replicas go to racks the partition
// does not use yet before any rack gets a second one. start rotates the walk
// (Kafka picks it at random; callers pass a random or a fixed value), which
// keeps the function pure.
func AssignReplicas(brokers []BrokerInfo, first, n int32, rf int16, start int) ([][]int32, error) {
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", kerr.InvalidReplicationFactor)
	}
	if int(rf) > len(brokers) {
		return nil, fmt.Errorf("%w: replication factor %d is larger than the %d available broker(s)", kerr.InvalidReplicationFactor, rf, len(brokers))
	}
	ordered := rackAlternated(brokers)
	nb := len(ordered)
	start = ((start % nb) + nb) % nb
	out := make([][]int32, 0, n)
	for i := range n {
		pid := int(first + i)
		lead := (start + pid) % nb
		replicas := []int32{ordered[lead].ID}
		used := map[string]bool{ordered[lead].Rack: true}
		racks := map[string]bool{}
		for _, b := range ordered {
			racks[b.Rack] = true
		}
		// The followers' rotation changes every round of nb partitions so
		// that leaders' followers differ (Kafka's replica shift).
		var cands []BrokerInfo
		if nb > 1 {
			rot := (start/nb + pid/nb) % (nb - 1)
			for j := range nb - 1 {
				cands = append(cands, ordered[(lead+1+(rot+j)%(nb-1))%nb])
			}
		}
		for _, c := range cands {
			if len(replicas) == int(rf) {
				break
			}
			if len(used) == len(racks) {
				clear(used) // every zone has one; start another round
			}
			if used[c.Rack] || slices.Contains(replicas, c.ID) {
				continue
			}
			replicas = append(replicas, c.ID)
			used[c.Rack] = true
		}
		for _, c := range cands {
			if len(replicas) == int(rf) {
				break
			}
			if !slices.Contains(replicas, c.ID) {
				replicas = append(replicas, c.ID)
			}
		}
		out = append(out, replicas)
	}
	return out, nil
}

// rackAlternated orders brokers by id within each rack, then takes one from
// each rack in turn (racks by name): zone-a's first, zone-b's first, ...
func rackAlternated(brokers []BrokerInfo) []BrokerInfo {
	byRack := map[string][]BrokerInfo{}
	var racks []string
	for _, b := range brokers {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	sort.Strings(racks)
	for _, r := range racks {
		sort.Slice(byRack[r], func(i, j int) bool { return byRack[r][i].ID < byRack[r][j].ID })
	}
	var out []BrokerInfo
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}
