package storage

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/codec"
)

// TestFollowerAppendAndTruncate copies a leader's batches into a follower
// log, then truncates it as a diverged follower would.
func TestFollowerAppendAndTruncate(t *testing.T) {
	lm, leader := openTest(t, t.TempDir(), DefaultLogConfig())
	defer lm.Close()
	for i := 0; i < 6; i++ {
		if _, err := leader.Append(pbatch(t, 5, 0, int32(i*2), 2), int32(i/2)); err != nil {
			t.Fatal(err)
		}
	}
	leader.SetHighWatermark(leader.LogEndOffset())
	all, err := leader.Read(0, ReadOptions{MaxBytes: 1 << 20, UpTo: -1})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 400
	fm, f := openTest(t, dir, cfg)
	res, err := f.AppendReplicated(all.Records)
	if err != nil || res.BaseOffset != 0 || res.LastOffset != 11 || f.LogEndOffset() != 12 {
		t.Fatal(res, err)
	}
	if e, off := f.EndOffsetForEpoch(1); e != 1 || off != 8 {
		t.Fatal("epochs not copied", e, off)
	}
	if _, err := f.AppendReplicated(all.Records); code(err) != kerr.InvalidRecord.Code {
		t.Fatal("overlapping replicated append accepted", err)
	}
	// Diverged at offset 7 (inside batch 6-7): the whole batch goes.
	if err := f.TruncateTo(7); err != nil {
		t.Fatal(err)
	}
	if f.LogEndOffset() != 6 {
		t.Fatalf("LEO %d after truncation", f.LogEndOffset())
	}
	if e, off := f.EndOffsetForEpoch(1); e != 1 || off != 6 {
		t.Fatalf("epoch cache after truncation: %d %d", e, off)
	}
	// Producer state followed: seq 6 is next again (seq 6-7 was at offsets 6-7).
	if _, err := f.Append(pbatch(t, 5, 0, 8, 2), 3); code(err) != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatal("producer state not rolled back", err)
	}
	mustAppend(t, f, pbatch(t, 5, 0, 6, 2))
	fm.Close()
	fm, f = openTest(t, dir, cfg)
	defer fm.Close()
	f.SetHighWatermark(f.LogEndOffset())
	if offs, _ := readAll(t, f); len(offs) != 8 || offs[7] != 7 {
		t.Fatal(offs)
	}
	// Truncating below the log start empties the log and restarts there.
	if err := f.TruncateTo(0); err != nil || f.LogEndOffset() != 0 || f.Size() != 0 {
		t.Fatal(err, f.LogEndOffset())
	}
	mustAppend(t, f, simple(t, codec.None, fmt.Sprint(1), 1))
}
