package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/record"
)

// latestByKey reads the log and returns each key's last value and offset.
func latestByKey(t *testing.T, l *Log) map[string]string {
	offs, vals := readAll(t, l)
	out := map[string]string{}
	for i := range offs {
		k, v := splitKV(vals[i])
		out[k] = fmt.Sprintf("%s@%d", v, offs[i])
	}
	return out
}

func splitKV(s string) (string, string) {
	for i := range s {
		if s[i] == '=' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func compactConfig() LogConfig {
	cfg := DefaultLogConfig()
	cfg.CleanupPolicy = "compact"
	cfg.SegmentBytes = 700
	cfg.DeleteRetentionMs = 1000
	return cfg
}

func TestCompactionKeepsLatestPerKey(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			clk := &clock{t: timeAt(2_000_000_000_000)}
			dir := t.TempDir()
			m := newManager(t, dir, clk)
			l, err := m.OpenPartition("t", 0, compactConfig())
			if err != nil {
				t.Fatal(err)
			}
			// 10 keys written 12 times over, k3 deleted midway, k5 deleted at the end.
			for round := 0; round < 12; round++ {
				var recs []kv
				for k := 0; k < 10; k++ {
					v := []byte(fmt.Sprintf("r%d", round))
					if (k == 3 && round == 6) || (k == 5 && round == 11) {
						v = nil
					}
					if k == 3 && round > 6 {
						continue
					}
					recs = append(recs, kv{key: []byte(fmt.Sprintf("k%d", k)), value: v})
				}
				mustAppend(t, l, kbatch(t, batchOpts{codec: c, pid: -1}, recs[:5]...))
				mustAppend(t, l, kbatch(t, batchOpts{codec: c, pid: -1}, recs[5:]...))
			}
			// Something in the active segment, so the tail is cleanable.
			mustAppend(t, l, kbatch(t, batchOpts{codec: c, pid: -1}, kv{key: []byte("tail"), value: []byte("x")}))
			l.SetHighWatermark(l.LogEndOffset())
			before := latestByKey(t, l)
			leo, sizeBefore := l.LogEndOffset(), l.Size()

			st, err := l.Compact(clk.t)
			if err != nil || !st.Cleaned || st.RecordsRemoved == 0 {
				t.Fatalf("%+v %v", st, err)
			}
			if l.Size() >= sizeBefore || l.LogEndOffset() != leo {
				t.Fatalf("size %d -> %d, LEO %d -> %d", sizeBefore, l.Size(), leo, l.LogEndOffset())
			}
			after := latestByKey(t, l)
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("latest values changed:\n%v\n%v", before, after)
			}
			// Only one record per key below the active segment, offsets increasing.
			offs, vals := readAll(t, l)
			seen := map[string]int{}
			activeBase := l.segs[len(l.segs)-1].base
			for i, v := range vals {
				k, _ := splitKV(v)
				if offs[i] < activeBase {
					seen[k]++
				}
				if i > 0 && offs[i] <= offs[i-1] {
					t.Fatal("offsets not increasing")
				}
			}
			for k, n := range seen {
				if n != 1 {
					t.Fatalf("key %s appears %d times", k, n)
				}
			}
			// Batches kept their codec.
			res, _ := l.Read(l.LogStartOffset(), ReadOptions{MaxBytes: 1 << 20, UpTo: -1})
			record.Each(res.Records, func(b []byte) error {
				h, err := record.Validate(b, 0)
				if err != nil && h.NumRecords > 0 {
					// Compacted batches have offset gaps; check CRC/frame only.
					if _, err := record.CheckStored(b); err != nil {
						t.Fatal(err)
					}
				}
				if h.Codec() != c {
					t.Fatalf("codec %s became %s", c, h.Codec())
				}
				return nil
			})
			if after["k5"] != "<nil>@"+fmt.Sprint(before["k5"][len("<nil>@"):]) {
				t.Fatalf("tombstone k5 dropped too early: %v", after["k5"])
			}
			// Nothing dirty: no second pass until the tombstone horizon passes.
			if st, _ := l.Compact(clk.t); st.Cleaned {
				t.Fatalf("cleaned again without cause: %+v", st)
			}
			clk.t = clk.t.Add(2 * time.Second)
			st, err = l.Compact(clk.t)
			if err != nil || !st.Cleaned || st.TombstonesRemoved == 0 {
				t.Fatalf("horizon pass: %+v %v", st, err)
			}
			// Tombstones survive only in the active segment, which is never cleaned.
			offs, vals = readAll(t, l)
			for i, v := range vals {
				if _, val := splitKV(v); val == "<nil>" && offs[i] < l.segs[len(l.segs)-1].base {
					t.Fatalf("tombstone %s at %d survived its horizon", v, offs[i])
				}
			}
			if _, ok := latestByKey(t, l)["k3"]; ok {
				t.Fatal("k3 tombstone survived")
			}
			before = latestByKey(t, l)
			m.Close()
			// Reopen: same data, cleaned files in place, no leftovers.
			m = newManager(t, dir, clk)
			defer m.Close()
			l, _ = m.OpenPartition("t", 0, compactConfig())
			l.SetHighWatermark(l.LogEndOffset())
			if got := latestByKey(t, l); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("after reopen:\n%v\n%v", before, got)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "t-0", "*"+cleanedSuffix)); len(left) != 0 {
				t.Fatal(left)
			}
		})
	}
}

func TestCompactionHonoursRatioAndLag(t *testing.T) {
	clk := &clock{t: timeAt(1_700_000_100_000)}
	m := newManager(t, t.TempDir(), clk)
	defer m.Close()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.99
	l, _ := m.OpenPartition("t", 0, cfg)
	for i := 0; i < 30; i++ {
		mustAppend(t, l, kbatch(t, batchOpts{pid: -1}, kv{key: []byte("same"), value: []byte(fmt.Sprint(i))}))
	}
	l.SetHighWatermark(l.LogEndOffset())
	// All dirty (ratio 1.0) so the ratio passes; now make the lag block it.
	cfg.MinCompactionLagMs = 1_000_000
	l.SetConfig(cfg)
	if st, _ := l.Compact(clk.t); st.Cleaned {
		t.Fatal("cleaned segments younger than min.compaction.lag.ms")
	}
	cfg.MinCompactionLagMs = 0
	l.SetConfig(cfg)
	if st, _ := l.Compact(clk.t); !st.Cleaned {
		t.Fatal("did not clean")
	}
	// Only a little new dirt: below the ratio.
	for i := 0; i < 3; i++ {
		mustAppend(t, l, kbatch(t, batchOpts{pid: -1}, kv{key: []byte("same"), value: []byte("n")}))
	}
	l.SetHighWatermark(l.LogEndOffset())
	if st, _ := l.Compact(clk.t); st.Cleaned {
		t.Fatalf("cleaned below min.cleanable.dirty.ratio: %+v", st)
	}
	// delete-only policy never compacts.
	cfg.CleanupPolicy = "delete"
	cfg.MinCleanableDirtyRatio = 0.01
	l.SetConfig(cfg)
	if st, _ := l.Compact(clk.t); st.Cleaned {
		t.Fatal("compacted a delete-policy log")
	}
}

// TestCompactionKeepsProducerState: batches of an idempotent producer that
// compaction empties stay as empty batches, so after a crash that loses the
// snapshot a retry is still detected as a duplicate.
func TestCompactionKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: timeAt(1_700_000_100_000)}
	m := newManager(t, dir, clk)
	l, _ := m.OpenPartition("t", 0, compactConfig())
	var last AppendResult
	for i := int32(0); i < 40; i++ {
		last = mustAppend(t, l, kbatch(t, batchOpts{pid: 9, seq: i}, kv{key: []byte("k"), value: []byte(fmt.Sprint(i))}))
	}
	mustAppend(t, l, kbatch(t, batchOpts{pid: -1}, kv{key: []byte("other"), value: []byte("x")}))
	l.SetHighWatermark(l.LogEndOffset())
	if st, err := l.Compact(clk.t); err != nil || !st.Cleaned {
		t.Fatal(st, err)
	}
	for _, s := range l.segs {
		s.f.Close()
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "t-0", "*.snapshot"))
	for _, s := range snaps {
		os.Remove(s)
	}
	m = newManager(t, dir, clk)
	defer m.Close()
	l, _ = m.OpenPartition("t", 0, compactConfig())
	res, err := l.Append(kbatch(t, batchOpts{pid: 9, seq: 39}, kv{key: []byte("k"), value: []byte("39")}), 0)
	if err != nil || !res.Duplicate || res.BaseOffset != last.BaseOffset {
		t.Fatal(res, err)
	}
	if _, err := l.Append(kbatch(t, batchOpts{pid: 9, seq: 41}, kv{key: []byte("k"), value: []byte("x")}), 0); err == nil {
		t.Fatal("gap accepted after rebuild")
	}
}

// TestCompactionCrashLeftovers: a .cleaned file from an interrupted pass is
// discarded on open and the original segment is intact.
func TestCompactionCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	m, l := openTest(t, dir, compactConfig())
	for i := 0; i < 20; i++ {
		mustAppend(t, l, simple(t, codec.None, fmt.Sprint(i), 2))
	}
	l.SetHighWatermark(l.LogEndOffset())
	_, want := readAll(t, l)
	m.Close()
	junk := segmentName(filepath.Join(dir, "t-0"), 0, logSuffix+cleanedSuffix)
	os.WriteFile(junk, []byte("half-written"), 0o644)
	m, l = openTest(t, dir, compactConfig())
	defer m.Close()
	if _, got := readAll(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("data changed")
	}
	if _, err := os.Stat(junk); !os.IsNotExist(err) {
		t.Fatal("leftover .cleaned kept")
	}
}

var _ = sort.Strings

// TestCompactionMergesSegmentsAndSurvivesCrashMidSwap: small cleaned
// segments are merged; a crash after the swap is committed (before the old
// segments are gone) is completed on open with nothing lost or duplicated.
func TestCompactionMergesSegmentsAndSurvivesCrashMidSwap(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			dir := t.TempDir()
			clk := &clock{t: timeAt(1_700_000_100_000)}
			cfg := compactConfig()
			cfg.SegmentBytes = 1500
			m := newManager(t, dir, clk)
			l, _ := m.OpenPartition("t", 0, cfg)
			for i := 0; i < 120; i++ {
				mustAppend(t, l, kbatch(t, batchOpts{codec: codec.Zstd, pid: -1}, kv{key: []byte(fmt.Sprintf("k%d", i%6)), value: []byte(fmt.Sprint(i))}))
			}
			l.SetHighWatermark(l.LogEndOffset())
			// The first pass shrinks the segments (original sizes are too big
			// to group); after more writes the second pass merges them.
			if st, err := l.Compact(clk.t); err != nil || !st.Cleaned {
				t.Fatal(st, err)
			}
			for i := 120; i < 180; i++ {
				mustAppend(t, l, kbatch(t, batchOpts{codec: codec.Zstd, pid: -1}, kv{key: []byte(fmt.Sprintf("k%d", i%6)), value: []byte(fmt.Sprint(i))}))
			}
			l.SetHighWatermark(l.LogEndOffset())
			want := latestByKey(t, l)
			before := len(l.segs)
			if crash {
				testHookSwap = func() error { return fmt.Errorf("simulated crash") }
				defer func() { testHookSwap = nil }()
				if _, err := l.Compact(clk.t); err == nil {
					t.Fatal("hook did not abort")
				}
				for _, s := range l.segs {
					s.f.Close()
				}
				testHookSwap = nil
				swaps, _ := filepath.Glob(filepath.Join(dir, "t-0", "*"+swapSuffix))
				if len(swaps) != 1 {
					t.Fatalf("swap files: %v", swaps)
				}
				m = newManager(t, dir, clk)
				l, _ = m.OpenPartition("t", 0, cfg)
				l.SetHighWatermark(l.LogEndOffset())
			} else if st, err := l.Compact(clk.t); err != nil || !st.Cleaned {
				t.Fatal(st, err)
			}
			defer m.Close()
			if got := latestByKey(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("latest values changed:\n%v\n%v", want, got)
			}
			if len(l.segs) >= before {
				t.Fatalf("segments %d -> %d: nothing merged", before, len(l.segs))
			}
			offs, _ := readAll(t, l)
			for i := 1; i < len(offs); i++ {
				if offs[i] <= offs[i-1] {
					t.Fatal("offsets not increasing after merge")
				}
			}
			if l.LogEndOffset() != 180 {
				t.Fatal(l.LogEndOffset())
			}
		})
	}
}
