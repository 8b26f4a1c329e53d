package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionForMatchesKafka(t *testing.T) {
	for _, tc := range []struct {
		group string
		want  int32
	}{
		{"", 0},
		{"hello", 22},             // "hello".hashCode() == 99162322
		{"polygenelubricants", 0}, // hashCode == Integer.MIN_VALUE; Utils.abs gives 0
		{"é", 33},                 // 233
		{"\U0001F600", 49},        // surrogate pair: 0xD83D*31 + 0xDE00 == 1772899
	} {
		c := New(Config{Store: newMemStore()})
		if got := c.PartitionFor(tc.group); got != tc.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", tc.group, got, tc.want)
		}
	}
	if h := javaStringHashCode("hello"); h != 99162322 {
		t.Fatalf("hashCode(hello) = %d", h)
	}
}

func TestMemberIDRequiredThenStable(t *testing.T) {
	h := newHarness(t)
	first := h.join("g", joinOpts{})
	if first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" || first.Generation != -1 {
		t.Fatalf("first join: %+v", first)
	}
	if h.state("g") != "Empty" {
		t.Fatalf("state %s", h.state("g"))
	}
	r := h.join("g", joinOpts{member: first.MemberID})
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != first.MemberID || len(r.Members) != 1 || *r.Protocol != "range" || *r.ProtocolType != "consumer" {
		t.Fatalf("second join: %+v", r)
	}
	if h.state("g") != "CompletingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
	s := recv(h, h.syncAsync("g", first.MemberID, 1, map[string][]byte{first.MemberID: []byte("x")}))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "x" {
		t.Fatalf("sync: %+v", s)
	}
	if h.state("g") != "Stable" || h.heartbeat("g", first.MemberID, 1) != 0 {
		t.Fatal("not stable")
	}
	// Old clients (v3) get no MEMBER_ID_REQUIRED round trip.
	h2 := newHarness(t)
	r = h2.join("g", joinOpts{version: 3})
	if r.ErrorCode != 0 || r.MemberID == "" || r.Generation != 1 {
		t.Fatalf("v3 join: %+v", r)
	}
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t)
	if r := h.join("", joinOpts{}); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group: %d", r.ErrorCode)
	}
	if r := h.join("g", joinOpts{session: time.Second}); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("short session: %d", r.ErrorCode)
	}
	if r := h.join("g", joinOpts{session: time.Hour}); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("long session: %d", r.ErrorCode)
	}
	if r := h.join("g", joinOpts{member: "nobody"}); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", r.ErrorCode)
	}
	if h.state("g") != "Dead" {
		t.Fatal("failed joins left a group behind")
	}
	id, _ := h.stableGroup("g")
	_ = id
	bad := h.join("g", joinOpts{protos: []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: consumerMeta("t")}}})
	if bad.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("inconsistent protocol: %d", bad.ErrorCode)
	}
	if hb := h.heartbeat("nope", "m", 1); hb != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat unknown group: %d", hb)
	}
}

// twoMembers brings a and b to Stable in generation 2 and returns their ids.
func twoMembers(t *testing.T, h *harness) (a, b string) {
	a, gen := h.stableGroup("g")
	b = h.newMemberID("g")
	jb := h.joinAsync("g", joinOpts{member: b})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	if h.state("g") != "PreparingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
	if hb := h.heartbeat("g", a, gen); hb != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", hb)
	}
	ra := h.join("g", joinOpts{member: a})
	rb := recv(h, jb)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 2 || rb.Generation != 2 {
		t.Fatalf("rejoin: %+v / %+v", ra, rb)
	}
	if ra.LeaderID != a || len(ra.Members) != 2 || len(rb.Members) != 0 || rb.LeaderID != a {
		t.Fatalf("leader view: %+v / %+v", ra, rb)
	}
	sb := h.syncAsync("g", b, 2, nil)
	h.waitFor("b syncing", func() bool { return h.waiting("g", b) })
	sa := recv(h, h.syncAsync("g", a, 2, map[string][]byte{a: []byte("A"), b: []byte("B")}))
	if got := recv(h, sb); got.ErrorCode != 0 || string(got.MemberAssignment) != "B" || string(sa.MemberAssignment) != "A" {
		t.Fatalf("sync: %+v / %+v", sa, got)
	}
	return a, b
}

func TestTwoMembersRebalance(t *testing.T) {
	h := newHarness(t)
	a, b := twoMembers(t, h)
	if h.heartbeat("g", b, 1) != kerr.IllegalGeneration.Code {
		t.Fatal("old generation accepted")
	}
	// b leaves; a is told to rejoin and gets generation 3 alone.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 0
	lv.Group, lv.MemberID = "g", b
	if r := h.c.LeaveGroup(h.ctx, lv); r.ErrorCode != 0 {
		t.Fatalf("leave: %d", r.ErrorCode)
	}
	if h.heartbeat("g", a, 2) != kerr.RebalanceInProgress.Code {
		t.Fatal("no rebalance after leave")
	}
	ra := h.join("g", joinOpts{member: a})
	if ra.Generation != 3 || len(ra.Members) != 1 {
		t.Fatalf("rejoin: %+v", ra)
	}
	if r := h.c.LeaveGroup(h.ctx, lv); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("second leave: %d", r.ErrorCode)
	}
}

func TestRebalanceTimeoutRemovesSilentMember(t *testing.T) {
	h := newHarness(t)
	a, b := twoMembers(t, h)
	// b rejoins (as a cooperative client does with new owned partitions); a stays silent.
	jb := h.joinAsync("g", joinOpts{member: b, protos: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t", "u")}}})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	// a keeps heartbeating (its session stays alive) but never rejoins.
	for i := 0; i < 11; i++ {
		h.clk.advance(5 * time.Second)
		if hb := h.heartbeat("g", a, 2); hb != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %d", hb)
		}
		h.tick()
	}
	if h.state("g") != "PreparingRebalance" {
		t.Fatal("completed early")
	}
	h.clk.advance(5 * time.Second)
	h.tick()
	rb := recv(h, jb)
	if rb.ErrorCode != 0 || rb.Generation != 3 || rb.LeaderID != b || len(rb.Members) != 1 {
		t.Fatalf("after timeout: %+v", rb)
	}
	if h.heartbeat("g", a, 2) != kerr.UnknownMemberID.Code {
		t.Fatal("silent member still there")
	}
}

func TestSessionTimeoutExpiresMember(t *testing.T) {
	h := newHarness(t)
	a, b := twoMembers(t, h)
	for i := 0; i < 4; i++ {
		h.clk.advance(3 * time.Second)
		if hb := h.heartbeat("g", a, 2); hb != 0 {
			t.Fatalf("heartbeat a: %d", hb)
		}
		h.tick()
	}
	if h.heartbeat("g", b, 2) != kerr.UnknownMemberID.Code {
		t.Fatal("b outlived its session")
	}
	if h.heartbeat("g", a, 2) != kerr.RebalanceInProgress.Code {
		t.Fatal("no rebalance after expiry")
	}
	if r := h.join("g", joinOpts{member: a}); r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
}

func TestPendingMemberExpires(t *testing.T) {
	h := newHarness(t)
	a, gen := h.stableGroup("g")
	pending := h.newMemberID("g")
	h.clk.advance(11 * time.Second)
	h.heartbeat("g", a, gen)
	h.tick()
	if r := h.join("g", joinOpts{member: pending}); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired pending member joined: %+v", r)
	}
	if h.state("g") != "Stable" {
		t.Fatalf("state %s", h.state("g"))
	}
}

func TestMissingSyncRemovesMember(t *testing.T) {
	h := newHarness(t)
	a, gen := h.stableGroup("g")
	b := h.newMemberID("g")
	jb := h.joinAsync("g", joinOpts{member: b})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	h.heartbeat("g", a, gen)
	h.join("g", joinOpts{member: a})
	recv(h, jb)
	recv(h, h.syncAsync("g", a, gen+1, nil)) // b never syncs
	for i := 0; i < 12; i++ {
		h.clk.advance(5 * time.Second)
		h.heartbeat("g", a, gen+1)
		h.heartbeat("g", b, gen+1)
		h.tick()
	}
	if h.state("g") != "PreparingRebalance" || h.heartbeat("g", b, gen+1) != kerr.UnknownMemberID.Code {
		t.Fatalf("state %s", h.state("g"))
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a := h.newMemberID("g")
	ja := h.joinAsync("g", joinOpts{member: a})
	h.waitFor("a parked", func() bool { return h.waiting("g", a) })
	h.clk.advance(2 * time.Second)
	b := h.newMemberID("g")
	jb := h.joinAsync("g", joinOpts{member: b})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	h.clk.advance(time.Second)
	h.tick() // b arrived during the delay: it stretches by another 3s
	if h.state("g") != "PreparingRebalance" {
		t.Fatal("delay not stretched")
	}
	h.clk.advance(3 * time.Second)
	h.tick()
	ra, rb := recv(h, ja), recv(h, jb)
	if ra.Generation != 1 || rb.Generation != 1 || ra.LeaderID != a || len(ra.Members) != 2 {
		t.Fatalf("%+v / %+v", ra, rb)
	}
}

func TestStaticMembership(t *testing.T) {
	h := newHarness(t)
	inst := strPtr("instance-1")
	r := h.join("g", joinOpts{instance: inst})
	if r.ErrorCode != 0 || r.Generation != 1 { // static members skip MEMBER_ID_REQUIRED
		t.Fatalf("join: %+v", r)
	}
	old := r.MemberID
	s := recv(h, h.syncAsync("g", old, 1, map[string][]byte{old: []byte("P0")}))
	if s.ErrorCode != 0 {
		t.Fatal(s.ErrorCode)
	}
	before := len(h.store.all())
	// The process restarts: same instance id, no member id, same metadata.
	// v9 (KIP-814): the returning leader learns it leads but must skip assigning.
	r2 := h.join("g", joinOpts{instance: inst})
	if r2.ErrorCode != 0 || r2.MemberID == old || r2.Generation != 1 || r2.LeaderID != r2.MemberID || !r2.SkipAssignment || len(r2.Members) != 1 {
		t.Fatalf("static rejoin: %+v", r2)
	}
	if h.state("g") != "Stable" || len(h.store.all()) != before+1 {
		t.Fatal("static rejoin rebalanced or did not persist")
	}
	// Before v9 it is given the previous leader id instead.
	r8 := h.join("g", joinOpts{instance: inst, version: 8})
	if r8.ErrorCode != 0 || r8.Generation != 1 || r8.LeaderID != r2.MemberID || r8.SkipAssignment || len(r8.Members) != 0 {
		t.Fatalf("v8 static rejoin: %+v", r8)
	}
	if hb := h.heartbeat("g", r2.MemberID, 1); hb != kerr.UnknownMemberID.Code {
		t.Fatalf("replaced id heartbeat: %d", hb)
	}
	old, r2 = r2.MemberID, r8
	if hb := h.heartbeat("g", old, 1); hb != kerr.FencedInstanceID.Code {
		// Without the instance id the stale id is simply unknown.
		if hb != kerr.UnknownMemberID.Code {
			t.Fatalf("stale heartbeat: %d", hb)
		}
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", old, 1, inst
	if got := h.c.Heartbeat(h.ctx, hb).ErrorCode; got != kerr.FencedInstanceID.Code {
		t.Fatalf("fenced heartbeat: %d", got)
	}
	s2 := recv(h, h.syncAsync("g", r2.MemberID, 1, nil))
	if s2.ErrorCode != 0 || string(s2.MemberAssignment) != "P0" {
		t.Fatalf("sync after static rejoin: %+v", s2)
	}
	// A static rejoin with a different protocol forces a rebalance.
	j := h.joinAsync("g", joinOpts{instance: inst, protos: []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky", Metadata: consumerMeta("t")}, {Name: "range", Metadata: consumerMeta("t")}}})
	r3 := recv(h, j)
	if r3.ErrorCode != 0 || r3.Generation != 2 || *r3.Protocol != "cooperative-sticky" {
		t.Fatalf("protocol change: %+v", r3)
	}
	// Admin removal by instance id only.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: inst}, {MemberID: "ghost"}}
	resp := h.c.LeaveGroup(h.ctx, lv)
	if resp.ErrorCode != 0 || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", resp)
	}
	if h.state("g") != "Empty" {
		t.Fatalf("state %s", h.state("g"))
	}
}

func TestStaticMemberKeptThroughRebalanceUntilSessionExpires(t *testing.T) {
	h := newHarness(t)
	inst := strPtr("i1")
	r := h.join("g", joinOpts{instance: inst})
	recv(h, h.syncAsync("g", r.MemberID, 1, nil))
	b := h.newMemberID("g")
	jb := h.joinAsync("g", joinOpts{member: b})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	// The static member heartbeats but does not rejoin within the rebalance timeout.
	for i := 0; i < 12; i++ {
		h.clk.advance(5 * time.Second)
		h.heartbeat("g", r.MemberID, 1)
		h.tick()
	}
	rb := recv(h, jb)
	if rb.Generation != 2 || rb.LeaderID != b || len(rb.Members) != 2 {
		t.Fatalf("static member dropped by rebalance timeout: %+v", rb)
	}
}

func TestJoinRespectsContext(t *testing.T) {
	h := newHarness(t)
	a, _ := h.stableGroup("g")
	_ = a
	b := h.newMemberID("g")
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- h.c.JoinGroup(ctx, h.joinReq("g", joinOpts{member: b})) }()
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	cancel()
	if r := <-done; r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("canceled join: %+v", r)
	}
	if h.waiting("g", b) {
		t.Fatal("waiter left behind")
	}
}

func TestSyncErrors(t *testing.T) {
	h := newHarness(t)
	a, gen := h.stableGroup("g")
	if s := recv(h, h.syncAsync("g", a, gen+5, nil)); s.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("bad generation: %d", s.ErrorCode)
	}
	if s := recv(h, h.syncAsync("g", "x", gen, nil)); s.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", s.ErrorCode)
	}
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = "g", a, gen
	if s := h.c.SyncGroup(h.ctx, req); s.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("v5 without protocol: %d", s.ErrorCode)
	}
	// A failed store of the leader's assignment sends everyone back to join.
	b := h.newMemberID("g")
	jb := h.joinAsync("g", joinOpts{member: b})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	h.join("g", joinOpts{member: a})
	recv(h, jb)
	sb := h.syncAsync("g", b, gen+1, nil)
	h.waitFor("b syncing", func() bool { return h.waiting("g", b) })
	h.store.fail = errDisk
	sa := recv(h, h.syncAsync("g", a, gen+1, map[string][]byte{a: []byte("1")}))
	h.store.fail = nil
	if sa.ErrorCode != kerr.CoordinatorNotAvailable.Code || recv(h, sb).ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("store failure: %d", sa.ErrorCode)
	}
	if h.state("g") != "PreparingRebalance" {
		t.Fatalf("state %s", h.state("g"))
	}
}

func TestProtocolVote(t *testing.T) {
	h := newHarness(t)
	g := newGroup("g", &h.c.p, h.clk.now())
	add := func(id string, names ...string) {
		var ps []protocol
		for _, n := range names {
			ps = append(ps, protocol{name: n, metadata: []byte{}})
		}
		g.add(&member{id: id, protocols: ps, protocolType: "consumer"})
	}
	add("a", "range", "cooperative-sticky")
	add("b", "cooperative-sticky", "range")
	add("c", "cooperative-sticky", "range", "roundrobin")
	if p := g.selectProtocol(); p != "cooperative-sticky" {
		t.Fatalf("vote: %s", p)
	}
}
