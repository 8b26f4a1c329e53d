package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/codec"
)

func pbatch(t tb, pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]kv, n)
	for i := range recs {
		recs[i] = kv{key: []byte("k"), value: []byte("v")}
	}
	return kbatch(t, batchOpts{codec: codec.Gzip, pid: pid, epoch: epoch, seq: seq}, recs...)
}

func TestIdempotentProducer(t *testing.T) {
	for _, how := range []string{"open", "clean-reopen", "crash-reopen", "crash-no-snapshot"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			m, l := openTest(t, dir, DefaultLogConfig())
			mustAppend(t, l, simple(t, codec.None, "other", 2)) // offsets 0-1
			r1 := mustAppend(t, l, pbatch(t, 7, 0, 0, 3))       // seq 0-2, offsets 2-4
			r2 := mustAppend(t, l, pbatch(t, 7, 0, 3, 2))       // seq 3-4, offsets 5-6
			switch how {
			case "clean-reopen":
				m.Close()
				m, l = openTest(t, dir, DefaultLogConfig())
			case "crash-reopen", "crash-no-snapshot":
				// Simulate a crash: drop the files without Close.
				for _, s := range l.segs {
					s.f.Close()
				}
				if how == "crash-no-snapshot" {
					snaps, _ := filepath.Glob(filepath.Join(dir, "t-0", "*.snapshot"))
					for _, s := range snaps {
						os.Remove(s)
					}
				}
				m, l = openTest(t, dir, DefaultLogConfig())
			}
			defer m.Close()
			// Retry of either recent batch: duplicate, original offsets, nothing written.
			size := l.Size()
			for _, want := range []AppendResult{r1, r2} {
				seq := int32(0)
				n := 3
				if want.BaseOffset == r2.BaseOffset {
					seq, n = 3, 2
				}
				res, err := l.Append(pbatch(t, 7, 0, seq, n), 0)
				if err != nil || !res.Duplicate || res.BaseOffset != want.BaseOffset || res.LastOffset != want.LastOffset {
					t.Fatalf("retry seq %d: %+v %v", seq, res, err)
				}
			}
			if l.Size() != size {
				t.Fatal("duplicate was written")
			}
			// A gap is out of order; an older epoch is fenced.
			if _, err := l.Append(pbatch(t, 7, 0, 9, 1), 0); code(err) != kerr.OutOfOrderSequenceNumber.Code {
				t.Fatalf("gap: %v", err)
			}
			if _, err := l.Append(pbatch(t, 7, 0, 2, 1), 0); code(err) != kerr.OutOfOrderSequenceNumber.Code {
				t.Fatalf("overlap: %v", err)
			}
			// In sequence works; a new epoch must start at 0.
			if res := mustAppend(t, l, pbatch(t, 7, 0, 5, 1)); res.BaseOffset != 7 {
				t.Fatal(res)
			}
			if _, err := l.Append(pbatch(t, 7, 1, 4, 1), 0); code(err) != kerr.OutOfOrderSequenceNumber.Code {
				t.Fatalf("new epoch not at 0: %v", err)
			}
			mustAppend(t, l, pbatch(t, 7, 1, 0, 1))
			if _, err := l.Append(pbatch(t, 7, 0, 6, 1), 0); code(err) != kerr.InvalidProducerEpoch.Code {
				t.Fatalf("old epoch: %v", err)
			}
			if l.Size() == size || l.LogEndOffset() != 9 {
				t.Fatalf("LEO %d", l.LogEndOffset())
			}
		})
	}
}

func TestTwoBatchesOneCallSameProducer(t *testing.T) {
	m, l := openTest(t, t.TempDir(), DefaultLogConfig())
	defer m.Close()
	both := append(pbatch(t, 3, 0, 0, 2), pbatch(t, 3, 0, 2, 2)...)
	if res := mustAppend(t, l, both); res.BaseOffset != 0 || res.LastOffset != 3 {
		t.Fatal(res)
	}
	// Second batch out of order: whole call rejected, nothing appended.
	bad := append(pbatch(t, 3, 0, 4, 1), pbatch(t, 3, 0, 9, 1)...)
	if _, err := l.Append(bad, 0); code(err) != kerr.OutOfOrderSequenceNumber.Code || l.LogEndOffset() != 4 {
		t.Fatal(err, l.LogEndOffset())
	}
	mustAppend(t, l, pbatch(t, 3, 0, 4, 1))
}

func TestExpireProducers(t *testing.T) {
	m, l := openTest(t, t.TempDir(), DefaultLogConfig())
	defer m.Close()
	mustAppend(t, l, pbatch(t, 1, 0, 0, 1)) // timestamp 1_700_000_000_000
	if n := l.ExpireProducers(timeAt(1_700_000_000_000).Add(time.Hour), 24*time.Hour); n != 0 {
		t.Fatal("expired too early")
	}
	if _, err := l.Append(pbatch(t, 1, 0, 5, 1), 0); code(err) != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatal(err)
	}
	if n := l.ExpireProducers(timeAt(1_700_000_000_000).Add(25*time.Hour), 24*time.Hour); n != 1 {
		t.Fatal("not expired")
	}
	mustAppend(t, l, pbatch(t, 1, 0, 5, 1)) // unknown producer again: any sequence
}
