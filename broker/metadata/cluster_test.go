package metadata

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func zoned(n, zones int) []BrokerInfo {
	var out []BrokerInfo
	for i := range n {
		out = append(out, BrokerInfo{ID: int32(i), Host: "h", Port: 1, Rack: fmt.Sprintf("zone-%c", 'a'+i%zones)})
	}
	return out
}

func TestAssignReplicasSpreadsZonesAndLeaders(t *testing.T) {
	for _, tc := range []struct{ brokers, zones, rf int }{{3, 3, 3}, {6, 3, 3}, {6, 3, 2}, {4, 2, 3}, {5, 1, 2}, {9, 3, 3}} {
		bs := zoned(tc.brokers, tc.zones)
		rack := map[int32]string{}
		for _, b := range bs {
			rack[b.ID] = b.Rack
		}
		for start := range 4 {
			parts := int32(tc.brokers * 4)
			as, err := AssignReplicas(bs, 0, parts, int16(tc.rf), start)
			if err != nil {
				t.Fatal(err)
			}
			leaders := map[int32]int{}
			count := map[int32]int{}
			for p, reps := range as {
				if len(reps) != tc.rf {
					t.Fatalf("%+v p%d: %v", tc, p, reps)
				}
				zones := map[string]bool{}
				for _, r := range reps {
					zones[rack[r]] = true
					count[r]++
				}
				if want := min(tc.rf, tc.zones); len(zones) != want {
					t.Fatalf("%+v p%d: replicas %v span %d zones, want %d", tc, p, reps, len(zones), want)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(reps)))) != tc.rf {
					t.Fatalf("%+v p%d: duplicate replica in %v", tc, p, reps)
				}
				leaders[reps[0]]++
			}
			for _, b := range bs {
				if leaders[b.ID] != 4 {
					t.Fatalf("%+v start %d: broker %d leads %d partitions, want 4: %v", tc, start, b.ID, leaders[b.ID], as)
				}
			}
		}
	}
	if _, err := AssignReplicas(zoned(2, 2), 0, 1, 3, 0); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3 on 2 brokers: %v", err)
	}
}

func liveExcept(dead ...int32) func(int32) bool {
	return func(id int32) bool { return !slices.Contains(dead, id) }
}

func TestElectLeader(t *testing.T) {
	p := Partition{ID: 0, Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2, 3}}
	if _, changed := ElectLeader(p, liveExcept(), false); changed {
		t.Fatal("a healthy partition changed")
	}
	np, changed := ElectLeader(p, liveExcept(1), false)
	if !changed || np.Leader != 2 || np.LeaderEpoch != 5 {
		t.Fatalf("leader 1 down: %+v", np)
	}
	// Only an out-of-sync replica is live: offline unless unclean.
	p.ISR = []int32{1, 2}
	if np, _ := ElectLeader(p, liveExcept(1, 2), false); np.Leader != -1 {
		t.Fatalf("clean election chose %d", np.Leader)
	}
	if np, _ := ElectLeader(p, liveExcept(1, 2), true); np.Leader != 3 || !slices.Equal(np.ISR, []int32{3}) {
		t.Fatalf("unclean election: %+v", np)
	}
}

func TestFenceAndRecover(t *testing.T) {
	s := New()
	apply := func(rs ...Record) {
		t.Helper()
		for _, r := range rs {
			if err := s.Apply(r); err != nil {
				t.Fatalf("%+v: %v", r, err)
			}
		}
	}
	for _, b := range zoned(3, 3) {
		b.Epoch = 1
		apply(Record{Type: RegisterBroker, Broker: &b}, Record{Type: UnfenceBroker, Broker: &b})
	}
	apply(Record{Type: CreateTopic, Topic: "t", TopicID: [16]byte{1}, Partitions: []Partition{
		{ID: 0, Replicas: []int32{0, 1, 2}, Leader: 0},
		{ID: 1, Replicas: []int32{1, 2, 0}, Leader: 1},
	}})
	clean := func(string) bool { return false }

	// Broker 0 is fenced: it leaves both ISRs, p0 gets leader 1.
	apply(Record{Type: FenceBroker, Broker: &BrokerInfo{ID: 0, Epoch: 1}})
	apply(FenceChanges(s, 0, liveExcept(0), clean)...)
	top, _ := s.Topic("t")
	if p := top.Partitions[0]; p.Leader != 1 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("p0 after fencing 0: %+v", p)
	}
	if p := top.Partitions[1]; p.Leader != 1 || p.LeaderEpoch != 0 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("p1 after fencing 0: %+v", p)
	}
	// Then 1 and 2: the last in-sync replica stays in the ISR, p goes offline.
	apply(FenceChanges(s, 1, liveExcept(0, 1), clean)...)
	apply(FenceChanges(s, 2, liveExcept(0, 1, 2), clean)...)
	top, _ = s.Topic("t")
	if p := top.Partitions[0]; p.Leader != -1 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("p0 with every broker fenced: %+v", p)
	}
	// Broker 0 returns: not in the ISR, so no clean leader...
	if rs := OfflineChanges(s, liveExcept(1, 2), clean, false); len(rs) != 0 {
		t.Fatalf("clean election from an out-of-sync replica: %+v", rs)
	}
	// ...but 2 returning leads again.
	apply(OfflineChanges(s, liveExcept(1), clean, false)...)
	top, _ = s.Topic("t")
	if p := top.Partitions[0]; p.Leader != 2 {
		t.Fatalf("p0 after 2 returns: %+v", p)
	}
	// The state survives a snapshot round trip.
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	data2, _ := s2.Snapshot()
	if string(data) != string(data2) {
		t.Fatalf("snapshot round trip:\n%s\n%s", data, data2)
	}
	if b, _ := s2.Broker(0); !b.Fenced || b.Rack != "zone-a" {
		t.Fatalf("broker 0 after restore: %+v", b)
	}
}

func TestBrokerRegistrationEpochs(t *testing.T) {
	s := New()
	b := BrokerInfo{ID: 1, Epoch: 5, Host: "h", Port: 9092}
	if err := s.Apply(Record{Type: RegisterBroker, Broker: &b}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Broker(1); !got.Fenced {
		t.Fatal("a new registration is not fenced")
	}
	if err := s.Apply(Record{Type: RegisterBroker, Broker: &b}); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Fatalf("same epoch again: %v", err)
	}
	if err := s.Apply(Record{Type: UnfenceBroker, Broker: &BrokerInfo{ID: 1, Epoch: 4}}); !errors.Is(err, kerr.StaleBrokerEpoch) {
		t.Fatalf("stale unfence: %v", err)
	}
	if err := s.Apply(Record{Type: UnfenceBroker, Broker: &BrokerInfo{ID: 2}}); !errors.Is(err, kerr.BrokerIDNotRegistered) {
		t.Fatalf("unknown broker: %v", err)
	}
}
