package metadata

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func allLive(int32) bool { return true }

func TestReassignAddsThenCompletes(t *testing.T) {
	p := Partition{ID: 0, Replicas: []int32{0, 1, 2}, Leader: 0, LeaderEpoch: 3, ISR: []int32{0, 1, 2}, PartitionEpoch: 5}
	np, err := Reassign(p, []int32{3, 1, 2}, allLive)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(np.Replicas, []int32{3, 1, 2, 0}) || !slices.Equal(np.AddingReplicas, []int32{3}) || !slices.Equal(np.RemovingReplicas, []int32{0}) ||
		!slices.Equal(np.ISR, []int32{0, 1, 2}) || np.Leader != 0 || np.LeaderEpoch != 3 || np.PartitionEpoch != 6 {
		t.Fatalf("started: %+v", np)
	}
	if err := checkReassigning(np); err != nil {
		t.Fatal(err)
	}
	if _, ok := CompleteReassignment(np, allLive); ok {
		t.Fatal("completed before the new replica was in sync")
	}
	np.ISR = append(np.ISR, 3)
	done, ok := CompleteReassignment(np, allLive)
	if !ok || !slices.Equal(done.Replicas, []int32{3, 1, 2}) || !slices.Equal(done.ISR, []int32{1, 2, 3}) || done.Reassigning() {
		t.Fatalf("completed: %v %+v", ok, done)
	}
	// The leader was removed: the new preferred replica leads, new epoch.
	if done.Leader != 3 || done.LeaderEpoch != 4 {
		t.Fatalf("leader after completion: %+v", done)
	}
	// A fenced target replica cannot lead.
	done, _ = CompleteReassignment(np, func(id int32) bool { return id != 3 })
	if done.Leader != 1 {
		t.Fatalf("leader with 3 fenced: %+v", done)
	}
}

func TestReassignReorderCompletesAtOnce(t *testing.T) {
	p := Partition{ID: 0, Replicas: []int32{0, 1, 2}, Leader: 0, ISR: []int32{0, 1, 2}}
	np, err := Reassign(p, []int32{2, 0, 1}, allLive)
	if err != nil || np.Reassigning() || !slices.Equal(np.Replicas, []int32{2, 0, 1}) || np.Leader != 0 {
		t.Fatalf("reorder: %v %+v", err, np)
	}
	// Shrinking the replication factor removes at once.
	np, err = Reassign(p, []int32{1, 2}, allLive)
	if err != nil || np.Reassigning() || !slices.Equal(np.Replicas, []int32{1, 2}) || np.Leader != 1 || np.LeaderEpoch != 1 {
		t.Fatalf("shrink: %v %+v", err, np)
	}
	for _, bad := range [][]int32{nil, {1, 1}, {-1}} {
		if _, err := Reassign(p, bad, allLive); !errors.Is(err, kerr.InvalidReplicaAssignment) {
			t.Fatalf("target %v: %v", bad, err)
		}
	}
}

func TestReassignAgainAndCancel(t *testing.T) {
	p := Partition{ID: 0, Replicas: []int32{0, 1}, Leader: 0, ISR: []int32{0, 1}}
	np, _ := Reassign(p, []int32{2, 3}, allLive)
	if !slices.Equal(np.Replicas, []int32{2, 3, 0, 1}) || !slices.Equal(np.OriginalReplicas(), []int32{0, 1}) {
		t.Fatalf("first: %+v", np)
	}
	// A new target replaces the move in progress, from the original replicas.
	np.ISR = append(np.ISR, 2)
	again, _ := Reassign(np, []int32{0, 4}, allLive)
	if !slices.Equal(again.Replicas, []int32{0, 4, 1}) || !slices.Equal(again.AddingReplicas, []int32{4}) || !slices.Equal(again.RemovingReplicas, []int32{1}) || slices.Contains(again.ISR, 2) {
		t.Fatalf("again: %+v", again)
	}
	back, err := CancelReassignment(again, allLive)
	if err != nil || back.Reassigning() || !slices.Equal(back.Replicas, []int32{0, 1}) || back.Leader != 0 {
		t.Fatalf("cancel: %v %+v", err, back)
	}
	if _, err := CancelReassignment(back, allLive); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel twice: %v", err)
	}
	// The state machine refuses inconsistent reassignment fields.
	s := New()
	if err := s.Apply(Record{Type: CreateTopic, Topic: "t", TopicID: [16]byte{1}, Partitions: []Partition{p}}); err != nil {
		t.Fatal(err)
	}
	bad := np
	bad.AddingReplicas = []int32{9}
	if err := s.Apply(Record{Type: PartitionChange, Topic: "t", Partitions: []Partition{bad}}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("adding a non-replica: %v", err)
	}
	if err := s.Apply(Record{Type: PartitionChange, Topic: "t", Partitions: []Partition{np}}); err != nil {
		t.Fatal(err)
	}
	if recs := ReassignmentChanges(s, allLive); len(recs) != 0 {
		t.Fatalf("completing a move whose replica 3 is out of sync: %+v", recs)
	}
	// Snapshots keep a move in progress.
	data, _ := s.Snapshot()
	r, err := Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	if tp, _ := r.Topic("t"); !slices.Equal(tp.Partitions[0].AddingReplicas, []int32{2, 3}) {
		t.Fatalf("restored: %+v", tp.Partitions[0])
	}
}

func TestElectionsAndImbalance(t *testing.T) {
	p := Partition{ID: 0, Replicas: []int32{0, 1, 2}, Leader: 1, LeaderEpoch: 2, ISR: []int32{0, 1, 2}}
	np, err := ElectPreferred(p, allLive)
	if err != nil || np.Leader != 0 || np.LeaderEpoch != 3 {
		t.Fatalf("preferred: %v %+v", err, np)
	}
	if _, err := ElectPreferred(np, allLive); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred again: %v", err)
	}
	p.ISR = []int32{1, 2}
	if _, err := ElectPreferred(p, allLive); !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred out of sync: %v", err)
	}
	if _, err := ElectUnclean(p, allLive); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v", err)
	}
	// Only replica 0, out of sync, is live: unclean elects it.
	only0 := func(id int32) bool { return id == 0 }
	np, err = ElectUnclean(p, only0)
	if err != nil || np.Leader != 0 || !slices.Equal(np.ISR, []int32{0}) {
		t.Fatalf("unclean: %v %+v", err, np)
	}
	if _, err := ElectUnclean(p, func(int32) bool { return false }); !errors.Is(err, kerr.EligibleLeadersNotAvailable) {
		t.Fatalf("unclean with nobody live: %v", err)
	}

	s := New()
	var parts []Partition
	for i := range int32(10) {
		parts = append(parts, Partition{ID: i, Replicas: []int32{i % 2, 1 - i%2}, Leader: i % 2, ISR: []int32{0, 1}})
	}
	parts[0].Leader = 1 // broker 0 leads 4 of its 5: 20% imbalance
	if err := s.Apply(Record{Type: CreateTopic, Topic: "t", TopicID: [16]byte{1}, Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	if li := LeaderImbalances(s)[0]; li.Preferred != 5 || li.NotLed != 1 {
		t.Fatalf("imbalance %+v", li)
	}
	if recs := RebalanceChanges(s, allLive, 25); len(recs) != 0 {
		t.Fatalf("below 25%%: %+v", recs)
	}
	recs := RebalanceChanges(s, allLive, 10)
	if len(recs) != 1 || len(recs[0].Partitions) != 1 || recs[0].Partitions[0].Leader != 0 {
		t.Fatalf("above 10%%: %+v", recs)
	}
}
