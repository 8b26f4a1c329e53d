package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestRunExpiresSessionsInRealTime drives timers with Run and the real
// clock: a member that stops heartbeating is removed and the group empties.
func TestRunExpiresSessionsInRealTime(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := newMemStore()
	c := New(Config{
		Store:             store,
		MinSessionTimeout: 10 * time.Millisecond,
		TickInterval:      5 * time.Millisecond,
		Registerer:        reg,
	})
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	h := &harness{t: t, c: c, store: store, ctx: ctx}
	id := h.newMemberIDWith("g", joinOpts{session: 50 * time.Millisecond, rebal: 50 * time.Millisecond})
	r := h.join("g", joinOpts{member: id, session: 50 * time.Millisecond, rebal: 50 * time.Millisecond})
	if r.ErrorCode != 0 {
		t.Fatalf("join: %d", r.ErrorCode)
	}
	h.waitFor("session expiry", func() bool { return h.state("g") == "Empty" })
	if hb := h.heartbeat("g", id, r.Generation); hb != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after expiry: %d", hb)
	}
	if n := testutil.ToFloat64(c.m.expirations); n != 1 {
		t.Fatalf("expirations metric: %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "sluice_groups"); err != nil || n != 5 {
		t.Fatalf("sluice_groups series: %d, %v", n, err)
	}
	cancel()
	wg.Wait()
}

func (h *harness) newMemberIDWith(group string, o joinOpts) string {
	h.t.Helper()
	r := h.join(group, o)
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		h.t.Fatalf("first join: %d", r.ErrorCode)
	}
	return r.MemberID
}

func TestJoinV0UsesSessionAsRebalanceTimeout(t *testing.T) {
	h := newHarness(t)
	req := h.joinReq("g", joinOpts{})
	req.Version = 0
	r := h.c.JoinGroup(h.ctx, req)
	if r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("v0 join: %+v", r)
	}
	g := h.c.lockGroup("g", false)
	rt := g.members[0].rebalanceTimeout
	g.mu.Unlock()
	if rt != 10*time.Second {
		t.Fatalf("rebalance timeout %v", rt)
	}
}
