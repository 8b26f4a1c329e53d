package group

import (
	"context"
	"testing"
)

// nopStore measures the coordinator alone, not a log.
type nopStore struct{}

func (nopStore) Append(context.Context, int32, []KV) error { return nil }
func (nopStore) Replay(context.Context, int32, func(k, v []byte) error) error {
	return nil
}

func benchHarness(b *testing.B) (*harness, string, int32) {
	h := &harness{t: b, store: newMemStore(), clk: &clock{}, ctx: context.Background()}
	h.c = New(Config{Store: nopStore{}, Now: h.clk.now})
	_ = h.c.Load(h.ctx)
	id, gen := h.stableGroup("g")
	return h, id, gen
}

func BenchmarkOffsetCommit6Partitions(b *testing.B) {
	h, id, gen := benchHarness(b)
	req := commitReq("g", id, gen, "t", map[int32]int64{0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6})
	b.ReportAllocs()
	for b.Loop() {
		h.c.OffsetCommit(h.ctx, req)
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	h, id, gen := benchHarness(b)
	b.ReportAllocs()
	for b.Loop() {
		h.heartbeat("g", id, gen)
	}
}

func BenchmarkOffsetFetchAll(b *testing.B) {
	h, id, gen := benchHarness(b)
	h.c.OffsetCommit(h.ctx, commitReq("g", id, gen, "t", map[int32]int64{0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6}))
	b.ReportAllocs()
	for b.Loop() {
		fetchAll(h, h.c, "g")
	}
}
