package storage

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/codec"
)

func TestRetentionByTimeAndSize(t *testing.T) {
	clk := &clock{t: timeAt(10_000_000)}
	m := newManager(t, t.TempDir(), clk)
	defer m.Close()
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 500
	cfg.RetentionMs = 1000
	l, err := m.OpenPartition("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		mustAppend(t, l, kbatch(t, batchOpts{pid: -1, baseTime: 9_000_000 + int64(i)*100}, kv{key: []byte("k"), value: []byte(fmt.Sprint(i))}))
	}
	nsegs := len(l.segs)
	// Nothing is deleted above the high watermark.
	if n, _ := l.ApplyRetention(clk.t); n != 0 {
		t.Fatalf("deleted %d segments above HW", n)
	}
	l.SetHighWatermark(l.LogEndOffset())
	// now - retention = 9_999_000: every batch is older, but the active
	// segment stays.
	n, err := l.ApplyRetention(clk.t)
	if err != nil || n != nsegs-1 || len(l.segs) != 1 {
		t.Fatalf("deleted %d of %d: %v", n, nsegs, err)
	}
	if l.LogStartOffset() != l.segs[0].base || l.LogEndOffset() != 40 {
		t.Fatal(l.LogStartOffset(), l.LogEndOffset())
	}
	if _, err := l.Read(0, ReadOptions{MaxBytes: 100, UpTo: -1}); code(err) != kerr.OffsetOutOfRange.Code {
		t.Fatal(err)
	}
	// retention.bytes: keep the newest segments within the budget.
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 1000
	l.SetConfig(cfg)
	for i := 0; i < 40; i++ {
		mustAppend(t, l, simple(t, codec.None, fmt.Sprint(i), 1))
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.ApplyRetention(clk.t); err != nil {
		t.Fatal(err)
	}
	if size := l.Size(); size > 1000+500 || len(l.segs) < 2 {
		t.Fatalf("size %d in %d segments", size, len(l.segs))
	}
	_, vals := readAll(t, l)
	if vals[len(vals)-1] != "k0=v39-0" {
		t.Fatal(vals)
	}
}

func TestDeleteRecords(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 400
	m, l := openTest(t, dir, cfg)
	for i := 0; i < 30; i++ {
		mustAppend(t, l, simple(t, codec.None, fmt.Sprint(i), 2))
	}
	if _, err := l.DeleteRecords(10); code(err) != kerr.OffsetOutOfRange.Code {
		t.Fatalf("above HW: %v", err)
	}
	l.SetHighWatermark(50)
	before := len(l.segs)
	ls, err := l.DeleteRecords(21)
	if err != nil || ls != 21 || l.LogStartOffset() != 21 || len(l.segs) >= before {
		t.Fatal(ls, err, len(l.segs), before)
	}
	if off, _, _ := l.ListOffset(EarliestTimestamp); off != 21 {
		t.Fatal(off)
	}
	if _, err := l.Read(20, ReadOptions{MaxBytes: 100, UpTo: -1}); code(err) != kerr.OffsetOutOfRange.Code {
		t.Fatal(err)
	}
	// Offset 21 is inside batch 20-21: the batch comes back whole.
	offs, _ := readAll(t, l)
	if offs[0] != 21 || offs[len(offs)-1] != 59 {
		t.Fatal(offs)
	}
	if ls, _ := l.DeleteRecords(-1); ls != 50 {
		t.Fatal(ls)
	}
	m.Close()
	m, l = openTest(t, dir, cfg)
	defer m.Close()
	if l.LogStartOffset() != 50 || l.HighWatermark() != 50 || l.LogEndOffset() != 60 {
		t.Fatal(l.LogStartOffset(), l.HighWatermark(), l.LogEndOffset())
	}
}

func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	m, l := openTest(t, dir, DefaultLogConfig())
	for _, e := range []int32{0, 0, 2, 2, 5} {
		if _, err := l.Append(simple(t, codec.None, "x", 2), e); err != nil {
			t.Fatal(err)
		}
	}
	// epoch 0 starts at 0, 2 at 4, 5 at 8; LEO 10
	m.Close()
	m, l = openTest(t, dir, DefaultLogConfig())
	defer m.Close()
	for _, c := range []struct {
		q, e int32
		off  int64
	}{{0, 0, 4}, {1, 0, 4}, {2, 2, 8}, {3, 2, 8}, {5, 5, 10}, {6, -1, -1}, {-1, -1, -1}} {
		if e, off := l.EndOffsetForEpoch(c.q); e != c.e || off != c.off {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.q, e, off, c.e, c.off)
		}
	}
}

func TestChangedAndHighWatermark(t *testing.T) {
	m, l := openTest(t, t.TempDir(), DefaultLogConfig())
	defer m.Close()
	ch := l.Changed()
	mustAppend(t, l, simple(t, codec.None, "a", 1))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("append did not signal Changed")
	}
	ch = l.Changed()
	l.SetHighWatermark(99) // clamped to LEO
	<-ch
	if l.HighWatermark() != 1 {
		t.Fatal(l.HighWatermark())
	}
}
