package storage

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/codec"
)

func recoveryPoint(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recovery
}

func TestFlushPolicies(t *testing.T) {
	clk := &clock{t: timeAt(1_700_000_000_000)}
	m := newManager(t, t.TempDir(), clk)
	defer m.Close()

	cfg := DefaultLogConfig()
	cfg.FlushMessages = 4
	l, _ := m.OpenPartition("msgs", 0, cfg)
	mustAppend(t, l, simple(t, codec.None, "a", 3))
	if rp := recoveryPoint(l); rp != 0 {
		t.Fatalf("fsynced early: recovery point %d", rp)
	}
	mustAppend(t, l, simple(t, codec.None, "b", 1)) // 4 records: fsync
	if rp := recoveryPoint(l); rp != 4 {
		t.Fatalf("recovery point %d after flush.messages reached", rp)
	}

	cfg = DefaultLogConfig()
	cfg.FlushMs = 1000
	l, _ = m.OpenPartition("ms", 0, cfg)
	mustAppend(t, l, simple(t, codec.None, "a", 2))
	if err := l.maybeFlushByTime(clk.t.Add(500 * time.Millisecond)); err != nil || recoveryPoint(l) != 0 {
		t.Fatal("fsynced before flush.ms", err)
	}
	if err := l.maybeFlushByTime(clk.t.Add(1500 * time.Millisecond)); err != nil || recoveryPoint(l) != 2 {
		t.Fatal("not fsynced after flush.ms", err)
	}
}
