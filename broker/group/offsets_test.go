package group

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func commitReq(group, member string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, member, gen
	t := kmsg.OffsetCommitRequestTopic{Topic: topic}
	for p := int32(0); p < int32(len(offsets)); p++ {
		pp := kmsg.NewOffsetCommitRequestTopicPartition()
		pp.Partition, pp.Offset, pp.Metadata, pp.LeaderEpoch = p, offsets[p], strPtr("md"), 4
		t.Partitions = append(t.Partitions, pp)
	}
	r.Topics = append(r.Topics, t)
	return r
}

func codes(r *kmsg.OffsetCommitResponse) []int16 {
	var out []int16
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out = append(out, p.ErrorCode)
		}
	}
	return out
}

func allZero(cs []int16) bool {
	for _, c := range cs {
		if c != 0 {
			return false
		}
	}
	return len(cs) > 0
}

func fetchAll(h *harness, c *Coordinator, groups ...string) *kmsg.OffsetFetchResponse {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	for _, g := range groups {
		r.Groups = append(r.Groups, kmsg.OffsetFetchRequestGroup{Group: g})
	}
	return c.OffsetFetch(h.ctx, r)
}

func TestRecordFormatIsKafkas(t *testing.T) {
	var want bytes.Buffer
	w := func(v any) { _ = binary.Write(&want, binary.BigEndian, v) }
	str := func(s string) { w(int16(len(s))); want.WriteString(s) }
	w(int16(1))
	str("grp")
	str("topic")
	w(int32(7))
	if got := offsetKey("grp", "topic", 7); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("offset key %x, want %x", got, want.Bytes())
	}
	want.Reset()
	w(int16(3))
	w(int64(42))
	w(int32(5))
	str("md")
	w(int64(1234))
	got := offsetValue(committed{offset: 42, leaderEpoch: 5, metadata: "md", commitTime: 1234, expireTime: -1})
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("offset value %x, want %x", got, want.Bytes())
	}
	want.Reset()
	w(int16(2))
	str("grp")
	if got := groupKey("grp"); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("group key %x", got)
	}
}

func TestOffsetsSurviveRestart(t *testing.T) {
	h := newHarness(t)
	a, gen := h.stableGroup("g")
	if cs := codes(h.c.OffsetCommit(h.ctx, commitReq("g", a, gen, "t", map[int32]int64{0: 10, 1: 20}))); !allZero(cs) {
		t.Fatalf("commit: %v", cs)
	}
	if cs := codes(h.c.OffsetCommit(h.ctx, commitReq("g", a, gen, "t", map[int32]int64{0: 11}))); !allZero(cs) {
		t.Fatalf("commit: %v", cs)
	}
	// A simple consumer's group, never managed by the coordinator.
	if cs := codes(h.c.OffsetCommit(h.ctx, commitReq("simple", "", -1, "u", map[int32]int64{0: 5}))); !allZero(cs) {
		t.Fatalf("simple commit: %v", cs)
	}

	c2 := h.open() // a restart over the same __consumer_offsets
	if got := c2.CommittedOffsets("g"); got["t"][0] != 11 || got["t"][1] != 20 {
		t.Fatalf("after restart: %v", got)
	}
	if got := c2.CommittedOffsets("simple"); got["u"][0] != 5 {
		t.Fatalf("simple after restart: %v", got)
	}
	f := fetchAll(h, c2, "g", "nope")
	if len(f.Groups) != 2 || len(f.Groups[0].Topics) != 1 || len(f.Groups[0].Topics[0].Partitions) != 2 {
		t.Fatalf("fetch: %+v", f)
	}
	p0 := f.Groups[0].Topics[0].Partitions[0]
	if p0.Offset != 11 || p0.LeaderEpoch != 4 || *p0.Metadata != "md" || len(f.Groups[1].Topics) != 0 {
		t.Fatalf("fetch: %+v", f)
	}
	// The group comes back Stable with its member, which can carry on.
	h.c = c2
	if h.state("g") != "Stable" || h.heartbeat("g", a, gen) != 0 {
		t.Fatalf("group after restart: %s", h.state("g"))
	}
	if s := recv(h, h.syncAsync("g", a, gen, nil)); string(s.MemberAssignment) != "a1" {
		t.Fatalf("assignment after restart: %q", s.MemberAssignment)
	}
	// Specific partitions, unknown ones at -1 (v7 single-group form).
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = "g"
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1, 9}}}
	fr := c2.OffsetFetch(h.ctx, r)
	if fr.ErrorCode != 0 || fr.Topics[0].Partitions[0].Offset != 20 || fr.Topics[0].Partitions[1].Offset != -1 {
		t.Fatalf("v7 fetch: %+v", fr)
	}
}

func TestCommitValidation(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.PartitionExists = func(topic string, p int32) bool { return topic != "missing" }
	})
	a, gen := h.stableGroup("g")
	check := func(name string, r *kmsg.OffsetCommitRequest, want int16) {
		t.Helper()
		for _, c := range codes(h.c.OffsetCommit(h.ctx, r)) {
			if c != want {
				t.Fatalf("%s: got %d, want %d", name, c, want)
			}
		}
	}
	check("generation", commitReq("g", a, gen+1, "t", map[int32]int64{0: 1}), kerr.IllegalGeneration.Code)
	check("member", commitReq("g", "who", gen, "t", map[int32]int64{0: 1}), kerr.UnknownMemberID.Code)
	check("simple commit to a live group", commitReq("g", "", -1, "t", map[int32]int64{0: 1}), kerr.UnknownMemberID.Code)
	check("unknown group with generation", commitReq("other", "m", 3, "t", map[int32]int64{0: 1}), kerr.IllegalGeneration.Code)
	check("missing topic", commitReq("g", a, gen, "missing", map[int32]int64{0: 1}), kerr.UnknownTopicOrPartition.Code)
	big := commitReq("g", a, gen, "t", map[int32]int64{0: 1})
	big.Topics[0].Partitions[0].Metadata = strPtr(string(make([]byte, 5000)))
	check("metadata", big, kerr.OffsetMetadataTooLarge.Code)
	h.store.fail = kerr.NotLeaderForPartition
	check("store", commitReq("g", a, gen, "t", map[int32]int64{0: 1}), kerr.NotCoordinator.Code)
	h.store.fail = nil
	if h.c.CommittedOffsets("g")["t"] != nil {
		t.Fatal("failed commit applied")
	}
	// During PreparingRebalance members may still commit their generation.
	b := h.newMemberID("g")
	jb := h.joinAsync("g", joinOpts{member: b})
	h.waitFor("b parked", func() bool { return h.waiting("g", b) })
	check("commit while rebalancing", commitReq("g", a, gen, "t", map[int32]int64{0: 7}), 0)
	h.join("g", joinOpts{member: a})
	recv(h, jb)
	check("commit before sync", commitReq("g", a, gen+1, "t", map[int32]int64{0: 8}), kerr.RebalanceInProgress.Code)
	if h.state("other") != "Dead" {
		t.Fatal("rejected commit created a group")
	}
}

func TestDeleteGroupWritesTombstones(t *testing.T) {
	h := newHarness(t)
	a, gen := h.stableGroup("g")
	h.c.OffsetCommit(h.ctx, commitReq("g", a, gen, "t", map[int32]int64{0: 1, 1: 2}))
	del := func(groups ...string) []int16 {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = groups
		var out []int16
		for _, g := range h.c.DeleteGroups(h.ctx, r).Groups {
			out = append(out, g.ErrorCode)
		}
		return out
	}
	if cs := del("g", "nope"); cs[0] != kerr.NonEmptyGroup.Code || cs[1] != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete: %v", cs)
	}
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 3
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}}
	h.c.LeaveGroup(h.ctx, lv)
	if h.state("g") != "Empty" {
		t.Fatalf("state %s", h.state("g"))
	}
	n := len(h.store.all())
	if cs := del("g"); cs[0] != 0 {
		t.Fatalf("delete: %v", cs)
	}
	tail := h.store.all()[n:]
	if len(tail) != 3 {
		t.Fatalf("tombstones: %d", len(tail))
	}
	for _, kv := range tail {
		if kv.Value != nil {
			t.Fatalf("not a tombstone: %x", kv.Key)
		}
	}
	if keyKind(tail[2].Key) != kindGroup {
		t.Fatal("no group tombstone")
	}
	c2 := h.open()
	if c2.CommittedOffsets("g") != nil {
		t.Fatal("deleted group came back")
	}
	lr := c2.ListGroups(h.ctx, kmsg.NewPtrListGroupsRequest())
	if len(lr.Groups) != 0 {
		t.Fatalf("groups after delete: %+v", lr.Groups)
	}
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t)
	a, gen := h.stableGroup("g") // subscribed to "t"
	h.c.OffsetCommit(h.ctx, commitReq("g", a, gen, "t", map[int32]int64{0: 1}))
	h.c.OffsetCommit(h.ctx, commitReq("g", a, gen, "old", map[int32]int64{0: 1}))
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
	}
	r := h.c.OffsetDelete(h.ctx, req)
	if r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || r.Topics[1].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", r)
	}
	if got := h.c.CommittedOffsets("g"); got["old"] != nil || got["t"][0] != 1 {
		t.Fatalf("offsets: %v", got)
	}
	req.Group = "nope"
	if r := h.c.OffsetDelete(h.ctx, req); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %d", r.ErrorCode)
	}
	if h.open().CommittedOffsets("g")["old"] != nil {
		t.Fatal("deleted offset came back after restart")
	}
}

func TestOffsetExpiry(t *testing.T) {
	h := newHarness(t)
	h.c.OffsetCommit(h.ctx, commitReq("simple", "", -1, "u", map[int32]int64{0: 5}))
	a, gen := h.stableGroup("g")
	h.c.OffsetCommit(h.ctx, commitReq("g", a, gen, "t", map[int32]int64{0: 1}))
	h.clk.advance(8 * 24 * time.Hour)
	h.heartbeat("g", a, gen)
	h.c.expireOffsets(h.ctx, h.clk.now())
	if h.c.CommittedOffsets("simple") != nil {
		t.Fatal("simple group's offsets did not expire")
	}
	if h.c.CommittedOffsets("g")["t"][0] != 1 {
		t.Fatal("subscribed topic's offsets of a stable group expired")
	}
	if h.open().CommittedOffsets("simple") != nil {
		t.Fatal("expired offsets came back")
	}
}

func TestTopicsDeleted(t *testing.T) {
	h := newHarness(t)
	h.c.OffsetCommit(h.ctx, commitReq("s1", "", -1, "gone", map[int32]int64{0: 5}))
	h.c.OffsetCommit(h.ctx, commitReq("s2", "", -1, "kept", map[int32]int64{0: 5}))
	h.c.TopicsDeleted([]string{"gone"})
	if h.c.CommittedOffsets("s1") != nil || h.c.CommittedOffsets("s2")["kept"][0] != 5 {
		t.Fatal("wrong offsets dropped")
	}
	c2 := h.open()
	if c2.CommittedOffsets("s1") != nil {
		t.Fatal("offsets of deleted topic came back")
	}
}

func TestListAndDescribe(t *testing.T) {
	h := newHarness(t)
	a, _ := h.stableGroup("g1")
	h.c.OffsetCommit(h.ctx, commitReq("g2", "", -1, "u", map[int32]int64{0: 5}))
	lr := kmsg.NewPtrListGroupsRequest()
	lr.Version = 5
	lr.StatesFilter = []string{"stable"}
	resp := h.c.ListGroups(h.ctx, lr)
	if len(resp.Groups) != 1 || resp.Groups[0].Group != "g1" || resp.Groups[0].GroupState != "Stable" || resp.Groups[0].ProtocolType != "consumer" || resp.Groups[0].GroupType != "classic" {
		t.Fatalf("list: %+v", resp.Groups)
	}
	lr.StatesFilter = nil
	if n := len(h.c.ListGroups(h.ctx, lr).Groups); n != 2 {
		t.Fatalf("list all: %d", n)
	}
	lr.TypesFilter = []string{"consumer"}
	if n := len(h.c.ListGroups(h.ctx, lr).Groups); n != 0 {
		t.Fatalf("types filter: %d", n)
	}
	dr := kmsg.NewPtrDescribeGroupsRequest()
	dr.Version = 6
	dr.Groups = []string{"g1", "missing"}
	d := h.c.DescribeGroups(h.ctx, dr)
	g1 := d.Groups[0]
	if g1.State != "Stable" || g1.Protocol != "range" || len(g1.Members) != 1 || g1.Members[0].MemberID != a || string(g1.Members[0].MemberAssignment) != "a1" || g1.Members[0].ClientID != "client" {
		t.Fatalf("describe: %+v", g1)
	}
	if d.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code || d.Groups[1].State != "Dead" {
		t.Fatalf("describe missing: %+v", d.Groups[1])
	}
}

func TestNotReadyBeforeLoad(t *testing.T) {
	c := New(Config{Store: newMemStore()})
	h := &harness{t: t, c: c, store: newMemStore(), clk: &clock{t: time.Now()}, ctx: context.Background()}
	if r := h.join("g", joinOpts{}); r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join before load: %d", r.ErrorCode)
	}
}

func TestOldVersionsAndExplicitRetention(t *testing.T) {
	h := newHarness(t)
	// v1 carries a per-partition commit timestamp; v2-v4 a retention time.
	// Both are stored with an explicit expire timestamp (value version 1).
	r1 := commitReq("s", "", -1, "t", map[int32]int64{0: 3})
	r1.Version = 1
	r1.Topics[0].Partitions[0].Timestamp = h.clk.now().UnixMilli()
	r2 := commitReq("s", "", -1, "u", map[int32]int64{0: 4})
	r2.Version = 2
	r2.RetentionTimeMillis = time.Hour.Milliseconds()
	for _, r := range []*kmsg.OffsetCommitRequest{r1, r2} {
		if cs := codes(h.c.OffsetCommit(h.ctx, r)); !allZero(cs) {
			t.Fatalf("v%d commit: %v", r.Version, cs)
		}
	}
	var v kmsg.OffsetCommitValue
	recs := h.store.all()
	if err := v.ReadFrom(recs[len(recs)-1].Value); err != nil || v.Version != 1 || v.ExpireTimestamp != h.clk.now().Add(time.Hour).UnixMilli() {
		t.Fatalf("stored value: %+v %v", v, err)
	}
	h.clk.advance(2 * time.Hour)
	h.c = h.open()
	h.c.expireOffsets(h.ctx, h.clk.now())
	if got := h.c.CommittedOffsets("s"); got["u"] != nil || got["t"][0] != 3 {
		t.Fatalf("explicit expiry: %v", got)
	}
	// OffsetFetch v1 for an unknown group: -1 per partition, no top-level error.
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 1
	f.Group = "nope"
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	fr := h.c.OffsetFetch(h.ctx, f)
	if len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].Offset != -1 || fr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("v1 fetch: %+v", fr)
	}
	// DescribeGroups before v6 reports unknown groups as Dead without error.
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version = 0
	d.Groups = []string{"nope"}
	if g := h.c.DescribeGroups(h.ctx, d).Groups[0]; g.ErrorCode != 0 || g.State != "Dead" {
		t.Fatalf("describe v0: %+v", g)
	}
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 4
	lv.Group = "nope"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	if r := h.c.LeaveGroup(h.ctx, lv); r.ErrorCode != 0 || r.Members[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave unknown group: %+v", r)
	}
}

func TestLoadSkipsForeignAndCorruptRecords(t *testing.T) {
	h := newHarness(t)
	h.c.OffsetCommit(h.ctx, commitReq("s", "", -1, "t", map[int32]int64{0: 9}))
	p := h.c.PartitionFor("s")
	h.store.Append(h.ctx, p, []KV{
		{Key: []byte{0, 3, 0, 1, 'x'}, Value: []byte{1, 2, 3}},              // a Kafka 4 consumer-group record
		{Key: offsetKey("s", "t", 1), Value: []byte{0, 3, 0}},               // torn value
		{Key: []byte{0, 1, 0xff}, Value: []byte{0}},                         // torn key
		{Key: groupKey("s2"), Value: []byte{0, 3, 0, 1}},                    // torn group value
		{Key: offsetKey("gone", "t", 0), Value: offsetValue(unknownOffset)}, // then deleted
		{Key: offsetKey("gone", "t", 0)},
	})
	c2 := h.open()
	if got := c2.CommittedOffsets("s"); got["t"][0] != 9 || len(got["t"]) != 1 {
		t.Fatalf("offsets: %v", got)
	}
	if c2.CommittedOffsets("gone") != nil || c2.CommittedOffsets("s2") != nil {
		t.Fatal("tombstoned or corrupt group loaded")
	}
}
