package group

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// memStore is an in-memory Store: one record slice per partition.
type memStore struct {
	mu    sync.Mutex
	parts map[int32][]KV
	fail  error // when set, Append fails with it
}

func newMemStore() *memStore { return &memStore{parts: map[int32][]KV{}} }

func (s *memStore) Append(ctx context.Context, p int32, recs []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range recs {
		s.parts[p] = append(s.parts[p], KV{Key: append([]byte(nil), r.Key...), Value: cloneOrNil(r.Value)})
	}
	return nil
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (s *memStore) Replay(ctx context.Context, p int32, fn func(k, v []byte) error) error {
	s.mu.Lock()
	recs := append([]KV(nil), s.parts[p]...)
	s.mu.Unlock()
	for _, r := range recs {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) all() []KV {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KV
	for p := int32(0); p < 64; p++ {
		out = append(out, s.parts[p]...)
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     testing.TB
	c     *Coordinator
	store *memStore
	clk   *clock
	ctx   context.Context
}

func newHarness(t *testing.T, mod ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, store: newMemStore(), clk: &clock{t: time.Unix(1_700_000_000, 0)}, ctx: context.Background()}
	h.c = h.open(mod...)
	return h
}

// open starts a coordinator over the harness's store, as after a restart.
func (h *harness) open(mod ...func(*Config)) *Coordinator {
	cfg := Config{Store: h.store, Now: h.clk.now, Partitions: 8}
	for _, m := range mod {
		m(&cfg)
	}
	c := New(cfg)
	if err := c.Load(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) tick() { h.c.tick(h.ctx, h.clk.now()) }

func consumerMeta(topics ...string) []byte {
	m := kmsg.ConsumerMemberMetadata{Version: 0, Topics: topics}
	return m.AppendTo(nil)
}

type joinOpts struct {
	member   string
	instance *string
	protos   []kmsg.JoinGroupRequestProtocol
	session  time.Duration
	rebal    time.Duration
	version  int16
}

func (h *harness) joinReq(group string, o joinOpts) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	if o.version != 0 {
		r.Version = o.version
	}
	r.Group = group
	r.MemberID = o.member
	r.InstanceID = o.instance
	r.ProtocolType = "consumer"
	r.SessionTimeoutMillis = 10_000
	if o.session != 0 {
		r.SessionTimeoutMillis = int32(o.session / time.Millisecond)
	}
	r.RebalanceTimeoutMillis = 60_000
	if o.rebal != 0 {
		r.RebalanceTimeoutMillis = int32(o.rebal / time.Millisecond)
	}
	r.Protocols = o.protos
	if r.Protocols == nil {
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t")}}
	}
	return r
}

// joinAsync sends a JoinGroup in the background.
func (h *harness) joinAsync(group string, o joinOpts) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	req := h.joinReq(group, o)
	go func() { ch <- h.c.JoinGroup(WithClient(h.ctx, "client", "/127.0.0.1"), req) }()
	return ch
}

func (h *harness) join(group string, o joinOpts) *kmsg.JoinGroupResponse {
	return h.c.JoinGroup(WithClient(h.ctx, "client", "/127.0.0.1"), h.joinReq(group, o))
}

// newMember runs the MEMBER_ID_REQUIRED handshake's first step.
func (h *harness) newMemberID(group string) string {
	h.t.Helper()
	r := h.join(group, joinOpts{})
	if r.ErrorCode != 79 { // MEMBER_ID_REQUIRED
		h.t.Fatalf("first join: error %d, want MEMBER_ID_REQUIRED", r.ErrorCode)
	}
	return r.MemberID
}

func (h *harness) syncAsync(group, member string, gen int32, assign map[string][]byte) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, member, gen
	req.ProtocolType, req.Protocol = strPtr("consumer"), strPtr("range")
	for id, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- h.c.SyncGroup(h.ctx, req) }()
	return ch
}

func (h *harness) heartbeat(group, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = group, member, gen
	return h.c.Heartbeat(h.ctx, req).ErrorCode
}

func (h *harness) state(group string) string {
	g := h.c.lockGroup(group, false)
	if g == nil {
		return "Dead"
	}
	defer g.mu.Unlock()
	return g.state.String()
}

// waitFor yields until cond holds: background requests register themselves
// asynchronously. It never asserts on elapsed time.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for i := 0; !cond(); i++ {
		if i > 2_000_000 {
			h.t.Fatalf("never happened: %s", what)
		}
		runtime.Gosched()
		if i > 1000 {
			time.Sleep(time.Millisecond)
		}
	}
}

// waiting reports whether member has a JoinGroup parked in group.
func (h *harness) waiting(group, member string) bool {
	g := h.c.lockGroup(group, false)
	if g == nil {
		return false
	}
	defer g.mu.Unlock()
	_, j := g.joinW[member]
	_, s := g.syncW[member]
	return j || s
}

func recv[T any](h *harness, ch <-chan T) T {
	h.t.Helper()
	return <-ch // a hang is caught by go test's -timeout, not by a timed assertion
}

var errDisk = errors.New("disk on fire")

// stableGroup brings one member through join and sync; it returns the
// member id and generation.
func (h *harness) stableGroup(group string) (string, int32) {
	h.t.Helper()
	id := h.newMemberID(group)
	r := h.join(group, joinOpts{member: id})
	if r.ErrorCode != 0 || r.LeaderID != id {
		h.t.Fatalf("join: %+v", r)
	}
	s := recv(h, h.syncAsync(group, id, r.Generation, map[string][]byte{id: []byte("a1")}))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "a1" {
		h.t.Fatalf("sync: %+v", s)
	}
	return id, r.Generation
}
