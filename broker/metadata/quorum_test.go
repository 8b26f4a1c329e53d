package metadata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// stateHooks is the smallest owner of a State: what the broker does, minus
// the partitions.
type stateHooks struct {
	mu sync.Mutex
	s  *State
}

func newHooks() *stateHooks { return &stateHooks{s: New()} }

func (h *stateHooks) ApplyRecord(r Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s.Apply(r)
}

func (h *stateHooks) SnapshotState() ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.s.Snapshot()
}

func (h *stateHooks) RestoreState(data []byte) error {
	s, err := Restore(data)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.s = s
	h.mu.Unlock()
	return nil
}

func (h *stateHooks) topics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, t := range h.s.Topics() {
		out = append(out, t.Name)
	}
	return out
}

func openOne(t *testing.T, dir string, h *stateHooks, threshold uint64) *Quorum {
	t.Helper()
	q, err := OpenQuorum(QuorumConfig{Dir: dir, NodeID: 1, Hooks: h, SnapshotThreshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := q.WaitReady(ctx); err != nil {
		q.Close()
		t.Fatal(err)
	}
	return q
}

func TestQuorumOfOneReplaysAfterRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHooks()
	q := openOne(t, dir, h, 0)
	ctx := context.Background()
	for i, r := range script() {
		if err := q.Apply(ctx, r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	// A record the state refuses comes back with its Kafka error.
	err := q.Apply(ctx, Record{Type: DeleteTopic, Topic: "nope"})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("refused record: %v", err)
	}
	if q.Leader() != 1 || !q.IsLeader() || fmt.Sprint(q.Voters()) != "[1]" {
		t.Fatalf("leader %d voters %v", q.Leader(), q.Voters())
	}
	want, _ := h.SnapshotState()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newHooks()
	q2 := openOne(t, dir, h2, 0)
	defer q2.Close()
	got, _ := h2.SnapshotState()
	if string(got) != string(want) {
		t.Fatalf("replayed state differs:\n got %s\nwant %s", got, want)
	}
}

func TestQuorumSnapshotAndCompaction(t *testing.T) {
	dir := t.TempDir()
	h := newHooks()
	q := openOne(t, dir, h, 0)
	ctx := context.Background()
	for i := range 50 {
		if err := q.Apply(ctx, Record{Type: CreateTopic, Topic: fmt.Sprintf("t%02d", i), TopicID: [16]byte{byte(i + 1)}, Partitions: parts(1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// Records after the snapshot are replayed on top of it.
	if err := q.Apply(ctx, Record{Type: DeleteTopic, Topic: "t00"}); err != nil {
		t.Fatal(err)
	}
	want, _ := h.SnapshotState()
	q.Close()

	h2 := newHooks()
	q2 := openOne(t, dir, h2, 0)
	defer q2.Close()
	got, _ := h2.SnapshotState()
	if string(got) != string(want) {
		t.Fatalf("state after snapshot restore differs:\n got %s\nwant %s", got, want)
	}
	if n := len(h2.topics()); n != 49 {
		t.Fatalf("%d topics", n)
	}
}

func TestImportLegacyLog(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "metadata.log")
	l, _, err := OpenLog(legacy)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range script() {
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	want := New()
	for _, r := range script() {
		want.Apply(r)
	}

	h := newHooks()
	q := openOne(t, filepath.Join(dir, "raft"), h, 0)
	if err := q.ImportLegacyLog(context.Background(), legacy, false); err != nil {
		t.Fatal(err)
	}
	if !h.s.LegacyImported() || fmt.Sprint(h.topics()) != "[a b]" || h.s.NextProducerID() != 1000 {
		t.Fatalf("imported state: %v next pid %d", h.topics(), h.s.NextProducerID())
	}
	if _, _, err := OpenLog(legacy); err != nil {
		t.Fatal(err)
	}
	// The file is gone (OpenLog just made an empty one); a second import of
	// an already imported state only removes the file.
	if err := q.ImportLegacyLog(context.Background(), legacy, true); err != nil {
		t.Fatal(err)
	}
	q.Close()
}

// freeAddrs finds n free loopback ports (the Raft transport needs each
// voter's address before any of them starts).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func TestQuorumOfThreeFailsOver(t *testing.T) {
	addrs := freeAddrs(t, 3)
	voters := map[int32]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	qs := map[int32]*Quorum{}
	hs := map[int32]*stateHooks{}
	for id := int32(1); id <= 3; id++ {
		hs[id] = newHooks()
		q, err := OpenQuorum(QuorumConfig{Dir: t.TempDir(), NodeID: id, Voters: voters, Hooks: hs[id]})
		if err != nil {
			t.Fatal(err)
		}
		qs[id] = q
	}
	defer func() {
		for _, q := range qs {
			q.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := waitLeader(ctx, t, qs)

	// A follower refuses: records go through the active controller.
	for id, q := range qs {
		if id != leader {
			if err := q.Apply(ctx, script()[0]); !errors.Is(err, kerr.NotController) {
				t.Fatalf("follower %d: %v", id, err)
			}
			break
		}
	}
	for i, r := range script()[:4] {
		if err := qs[leader].Apply(ctx, r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	waitTopics(ctx, t, hs, "[a b]")

	// The controller dies; the other two elect a new one and go on.
	qs[leader].Close()
	delete(qs, leader)
	delete(hs, leader)
	next := waitLeader(ctx, t, qs)
	if next == leader {
		t.Fatalf("leader %d still leads after closing", leader)
	}
	if err := qs[next].Apply(ctx, script()[4]); err != nil { // delete a
		t.Fatal(err)
	}
	waitTopics(ctx, t, hs, "[b]")
}

func waitLeader(ctx context.Context, t *testing.T, qs map[int32]*Quorum) int32 {
	t.Helper()
	for {
		for id, q := range qs {
			if q.IsLeader() {
				if err := q.WaitReady(ctx); err == nil && q.IsLeader() {
					return id
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("no leader elected")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitTopics(ctx context.Context, t *testing.T, hs map[int32]*stateHooks, want string) {
	t.Helper()
	for id, h := range hs {
		for fmt.Sprint(h.topics()) != want {
			select {
			case <-ctx.Done():
				t.Fatalf("node %d has topics %v, want %s", id, h.topics(), want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
