package storage

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/record"
)

func TestAppendReadEveryCodec(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			m, l := openTest(t, t.TempDir(), DefaultLogConfig())
			defer m.Close()
			var want []string
			for i := 0; i < 10; i++ {
				b := simple(t, c, fmt.Sprint(i), 5)
				res := mustAppend(t, l, b)
				if res.BaseOffset != int64(5*i) || res.LastOffset != int64(5*i+4) || res.LogAppendTime != -1 {
					t.Fatalf("append %d: %+v", i, res)
				}
				for j := 0; j < 5; j++ {
					want = append(want, fmt.Sprintf("k%d=v%d-%d", j, i, j))
				}
			}
			l.SetHighWatermark(l.LogEndOffset())
			offs, vals := readAll(t, l)
			if len(offs) != 50 || offs[49] != 49 || fmt.Sprint(vals) != fmt.Sprint(want) {
				t.Fatalf("read back %v %v", offs, vals)
			}
			// An offset inside a batch returns that whole batch.
			res, err := l.Read(7, ReadOptions{MaxBytes: 1, UpTo: -1})
			if err != nil || len(res.Records) != 0 {
				t.Fatalf("budget 1 without MinOneBatch: %d %v", len(res.Records), err)
			}
			res, err = l.Read(7, ReadOptions{MaxBytes: 1, MinOneBatch: true, UpTo: -1})
			h, _ := record.ParseHeader(res.Records)
			if err != nil || h.BaseOffset != 5 || len(res.Records) != h.Size() {
				t.Fatalf("MinOneBatch: %+v %v", h, err)
			}
			res, _ = l.Read(0, ReadOptions{MaxBytes: 1 << 20, UpTo: 10})
			if parts, _ := record.Split(res.Records); len(parts) != 2 {
				t.Fatalf("UpTo 10 gave %d batches", len(parts))
			}
			if _, err := l.Read(51, ReadOptions{MaxBytes: 100, UpTo: -1}); code(err) != kerr.OffsetOutOfRange.Code {
				t.Fatal(err)
			}
			if res, err := l.Read(50, ReadOptions{MaxBytes: 100, UpTo: -1}); err != nil || len(res.Records) != 0 || res.HighWatermark != 50 {
				t.Fatal(res, err)
			}
		})
	}
}

func TestSegmentsRollAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 1000
	cfg.IndexIntervalBytes = 300
	m, l := openTest(t, dir, cfg)
	for i := 0; i < 60; i++ {
		mustAppend(t, l, simple(t, codec.None, fmt.Sprint(i), 3))
	}
	l.SetHighWatermark(l.LogEndOffset())
	_, before := readAll(t, l)
	nsegs := len(l.segs)
	if nsegs < 5 {
		t.Fatalf("only %d segments", nsegs)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "t-0", "*.log"))
	if filepath.Base(names[0]) != "00000000000000000000.log" || len(names) != nsegs {
		t.Fatal(names)
	}
	m, l = openTest(t, dir, cfg)
	defer m.Close()
	if l.LogEndOffset() != 180 || l.HighWatermark() != 180 {
		t.Fatalf("LEO %d HW %d", l.LogEndOffset(), l.HighWatermark())
	}
	if _, after := readAll(t, l); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("data changed across reopen")
	}
	for off := int64(0); off < 180; off += 7 {
		res, err := l.Read(off, ReadOptions{MaxBytes: 1, UpTo: -1})
		_ = res
		if err != nil {
			t.Fatal(err)
		}
		res, _ = l.Read(off, ReadOptions{MaxBytes: 1, MinOneBatch: true, UpTo: -1})
		h, _ := record.ParseHeader(res.Records)
		if h.BaseOffset > off || h.LastOffset() < off {
			t.Fatalf("offset %d read batch %d-%d", off, h.BaseOffset, h.LastOffset())
		}
	}
}

func TestBadInputNothingAppended(t *testing.T) {
	cfg := DefaultLogConfig()
	cfg.MaxMessageBytes = 500
	m, l := openTest(t, t.TempDir(), cfg)
	defer m.Close()
	mustAppend(t, l, simple(t, codec.None, "ok", 2))
	good := simple(t, codec.None, "x", 2)
	bad := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
		code int16
	}{
		{"crc", bad(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), kerr.CorruptMessage.Code},
		{"magic", bad(func(b []byte) []byte { b[16] = 3; return b }), kerr.CorruptMessage.Code},
		{"magic1", bad(func(b []byte) []byte { b[16] = 1; return b }), kerr.InvalidRecord.Code},
		{"truncated", good[:len(good)-1], kerr.CorruptMessage.Code},
		{"oversized", simple(t, codec.None, string(bytes.Repeat([]byte("x"), 600)), 1), kerr.MessageTooLarge.Code},
		// A good batch followed by a bad one: the whole call fails.
		{"second-bad", append(append([]byte(nil), good...), bad(func(b []byte) []byte { b[30] ^= 1; return b })...), kerr.CorruptMessage.Code},
		{"empty", nil, kerr.CorruptMessage.Code},
	}
	for _, tc := range cases {
		_, err := l.Append(tc.b, 0)
		if code(err) != tc.code {
			t.Errorf("%s: got %v, want code %d", tc.name, err, tc.code)
		}
	}
	if l.LogEndOffset() != 2 || l.Size() != int64(len(simple(t, codec.None, "ok", 2))) {
		t.Fatalf("something was appended: LEO %d size %d", l.LogEndOffset(), l.Size())
	}
}

func TestLogAppendTime(t *testing.T) {
	clk := &clock{t: timeAt(5_000_000)}
	m := newManager(t, t.TempDir(), clk)
	defer m.Close()
	cfg := DefaultLogConfig()
	cfg.MessageTimestampType = "LogAppendTime"
	l, err := m.OpenPartition("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := mustAppend(t, l, simple(t, codec.Zstd, "a", 3))
	if res.LogAppendTime != 5_000_000 {
		t.Fatal(res)
	}
	l.SetHighWatermark(3)
	got, _ := l.Read(0, ReadOptions{MaxBytes: 1 << 20, UpTo: -1})
	h, err := record.Validate(got.Records, 0)
	if err != nil || !h.LogAppendTime() || h.MaxTimestamp != 5_000_000 {
		t.Fatal(h, err)
	}
	if off, ts, _ := l.ListOffset(5_000_000); off != 0 || ts != 5_000_000 {
		t.Fatal(off, ts)
	}
}

func TestCompactedTopicNeedsKeys(t *testing.T) {
	cfg := DefaultLogConfig()
	cfg.CleanupPolicy = "compact"
	m, l := openTest(t, t.TempDir(), cfg)
	defer m.Close()
	b := kbatch(t, batchOpts{pid: -1}, kv{key: []byte("a"), value: []byte("1")}, kv{key: nil, value: []byte("2")})
	if _, err := l.Append(b, 0); code(err) != kerr.InvalidRecord.Code {
		t.Fatal(err)
	}
}

func TestListOffset(t *testing.T) {
	m, l := openTest(t, t.TempDir(), DefaultLogConfig())
	defer m.Close()
	if off, ts, err := l.ListOffset(MaxTimestamp); off != -1 || ts != -1 || err != nil {
		t.Fatal(off, ts, err)
	}
	base := int64(1_700_000_000_000)
	for i := int64(0); i < 5; i++ {
		// records at base+100i, base+100i+10, base+100i+20; batch 3 holds the max
		ts := base + 100*i
		if i == 3 {
			ts += 1000
		}
		mustAppend(t, l, kbatch(t, batchOpts{codec: codec.LZ4, pid: -1, baseTime: ts},
			kv{key: []byte("a"), value: []byte("1")}, kv{key: []byte("b"), value: []byte("2"), ts: ts + 10}, kv{key: []byte("c"), value: []byte("3"), ts: ts + 20}))
	}
	if off, _, _ := l.ListOffset(base); off != -1 {
		t.Fatalf("offsets above HW must not be returned, got %d", off)
	}
	l.SetHighWatermark(l.LogEndOffset())
	check := func(q, wantOff, wantTs int64) {
		t.Helper()
		off, ts, err := l.ListOffset(q)
		if err != nil || off != wantOff || ts != wantTs {
			t.Fatalf("ListOffset(%d) = %d, %d, %v; want %d, %d", q, off, ts, err, wantOff, wantTs)
		}
	}
	check(LatestTimestamp, 15, -1)
	check(EarliestTimestamp, 0, -1)
	check(MaxTimestamp, 11, base+1320)
	check(base, 0, base)
	check(base+5, 1, base+10)
	check(base+111, 5, base+120)
	check(base+121, 6, base+200)
	check(base+421, 9, base+1300)
	check(base+1301, 10, base+1310)
	check(base+2000, -1, -1)
}
