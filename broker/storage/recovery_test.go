package storage

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/record"
)

// TestTornWriteAtEveryByte cuts the last batch at every byte (as a crash
// mid-write leaves it) and checks that reopening truncates exactly to the
// batches before it, loses none of them, and accepts new appends.
func TestTornWriteAtEveryByte(t *testing.T) {
	src := t.TempDir()
	m, l := openTest(t, src, DefaultLogConfig())
	for i := 0; i < 3; i++ {
		mustAppend(t, l, simple(t, codec.Snappy, fmt.Sprint(i), 4))
	}
	goodSize := l.Size()
	mustAppend(t, l, kbatch(t, batchOpts{pid: -1}, kv{key: []byte("k"), value: []byte("last")}))
	full := l.Size()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	logBytes, err := os.ReadFile(filepath.Join(src, "t-0", "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	for cut := goodSize; cut < full; cut++ {
		dir := t.TempDir()
		pdir := filepath.Join(dir, "t-0")
		os.MkdirAll(pdir, 0o755)
		// A crash leaves no clean-shutdown marker; the indexes may be stale too.
		os.WriteFile(filepath.Join(pdir, "00000000000000000000.log"), logBytes[:cut], 0o644)
		m, l := openTest(t, dir, DefaultLogConfig())
		if l.LogEndOffset() != 12 || l.Size() != goodSize {
			t.Fatalf("cut %d: LEO %d size %d, want 12 and %d", cut, l.LogEndOffset(), l.Size(), goodSize)
		}
		l.SetHighWatermark(12)
		if offs, _ := readAll(t, l); len(offs) != 12 {
			t.Fatalf("cut %d: %d records readable", cut, len(offs))
		}
		if res := mustAppend(t, l, simple(t, codec.None, "again", 1)); res.BaseOffset != 12 {
			t.Fatalf("cut %d: next append at %d", cut, res.BaseOffset)
		}
		m.Close()
	}
}

// TestCorruptTailTruncated flips a byte inside the last batch (CRC failure
// without a short file): recovery drops that batch and nothing before it.
func TestCorruptTailTruncated(t *testing.T) {
	dir := t.TempDir()
	m, l := openTest(t, dir, DefaultLogConfig())
	mustAppend(t, l, simple(t, codec.None, "a", 3))
	good := l.Size()
	mustAppend(t, l, simple(t, codec.None, "b", 3))
	m.Close()
	p := filepath.Join(dir, "t-0", "00000000000000000000.log")
	b, _ := os.ReadFile(p)
	b[len(b)-2] ^= 0x55
	os.WriteFile(p, b, 0o644)
	os.Remove(filepath.Join(dir, "t-0", cleanShutdownName))
	m, l = openTest(t, dir, DefaultLogConfig())
	defer m.Close()
	if l.Size() != good || l.LogEndOffset() != 3 {
		t.Fatalf("size %d LEO %d", l.Size(), l.LogEndOffset())
	}
}

// TestIndexRebuild deletes or corrupts the index files of every segment,
// then checks reads and timestamp lookups after reopening.
func TestIndexRebuild(t *testing.T) {
	for _, damage := range []string{"delete", "garbage", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultLogConfig()
			cfg.SegmentBytes = 3000
			cfg.IndexIntervalBytes = 200
			m, l := openTest(t, dir, cfg)
			for i := 0; i < 80; i++ {
				mustAppend(t, l, kbatch(t, batchOpts{pid: -1, baseTime: 1_000_000 + int64(i)*10}, kv{key: []byte("k"), value: []byte(fmt.Sprint(i))}, kv{key: []byte("k2"), value: []byte(fmt.Sprint(i))}))
			}
			l.SetHighWatermark(l.LogEndOffset())
			_, want := readAll(t, l)
			m.Close()
			files, _ := filepath.Glob(filepath.Join(dir, "t-0", "*index"))
			if len(files) < 6 {
				t.Fatalf("%d index files", len(files))
			}
			for _, f := range files {
				switch damage {
				case "delete":
					os.Remove(f)
				case "garbage":
					b, _ := os.ReadFile(f)
					for i := range b {
						b[i] = byte(i * 37)
					}
					os.WriteFile(f, b, 0o644)
				case "truncate":
					b, _ := os.ReadFile(f)
					os.WriteFile(f, b[:len(b)-3], 0o644)
				}
			}
			m, l = openTest(t, dir, cfg)
			defer m.Close()
			if _, got := readAll(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatal("reads differ after index rebuild")
			}
			for i := int64(0); i < 80; i += 9 {
				off, ts, err := l.ListOffset(1_000_000 + i*10)
				if err != nil || off != 2*i || ts != 1_000_000+i*10 {
					t.Fatalf("ListOffset(%d) = %d %d %v", i, off, ts, err)
				}
				res, err := l.Read(2*i+1, ReadOptions{MaxBytes: 1, MinOneBatch: true, UpTo: -1})
				h, _ := record.ParseHeader(res.Records)
				if err != nil || h.BaseOffset != 2*i {
					t.Fatalf("Read(%d): batch %d %v", 2*i+1, h.BaseOffset, err)
				}
			}
			if off, ts, _ := l.ListOffset(MaxTimestamp); off != 158 || ts != 1_000_790 {
				t.Fatalf("max timestamp %d %d", off, ts)
			}
		})
	}
}

const childEnv = "SLUICE_STORAGE_KILL_CHILD"

// TestKillChildProcess re-executes the test binary as a child that appends
// in a loop and prints each acknowledged offset; the child is killed with
// SIGKILL, and every offset it reported must be readable after reopening.
func TestKillChildProcess(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		childAppendLoop(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChildProcess$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := map[int64]string{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "acked" {
			continue
		}
		off, _ := strconv.ParseInt(f[1], 10, 64)
		acked[off] = f[2]
		if len(acked) == 300 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for sc.Scan() {
		// Lines written before the kill landed are acknowledged too.
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "acked" {
			off, _ := strconv.ParseInt(f[1], 10, 64)
			acked[off] = f[2]
		}
	}
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d batches", len(acked))
	}
	m, l := openTest(t, dir, childConfig())
	defer m.Close()
	l.SetHighWatermark(l.LogEndOffset())
	offs, vals := readAll(t, l)
	got := map[int64]string{}
	for i, o := range offs {
		got[o] = vals[i]
	}
	for off, v := range acked {
		if got[off] != "k="+v {
			t.Fatalf("acknowledged offset %d (%s) lost: have %q", off, v, got[off])
		}
	}
}

func childConfig() LogConfig {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 64 << 10 // roll often, so the kill may land near a roll
	return cfg
}

func childAppendLoop(dir string) {
	m, err := Open(ManagerConfig{Dir: dir})
	if err != nil {
		panic(err)
	}
	l, err := m.OpenPartition("t", 0, childConfig())
	if err != nil {
		panic(err)
	}
	w := bufio.NewWriter(os.Stdout)
	t := panicTB{}
	for i := 0; ; i++ {
		v := fmt.Sprintf("value-%d", i)
		res, err := l.Append(kbatch(t, batchOpts{codec: codec.Type(i % 5), pid: -1}, kv{key: []byte("k"), value: []byte(v + strings.Repeat("x", i%300))}), 0)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(w, "acked %d %s\n", res.BaseOffset, v+strings.Repeat("x", i%300))
		w.Flush()
	}
}

type panicTB struct{}

func (panicTB) Helper()           {}
func (panicTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// TestCleanShutdownSkipsScan: after Close the next open trusts the indexes
// and scans nothing; after a crash it scans the tail.
func TestCleanShutdownSkipsScan(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 500
	m, l := openTest(t, dir, cfg)
	for i := 0; i < 20; i++ {
		mustAppend(t, l, simple(t, codec.None, fmt.Sprint(i), 2))
	}
	m.Close()
	m, l = openTest(t, dir, cfg)
	if l.scanned != 0 || l.LogEndOffset() != 40 {
		t.Fatalf("clean open scanned %d segments, LEO %d", l.scanned, l.LogEndOffset())
	}
	mustAppend(t, l, simple(t, codec.None, "x", 2))
	for _, s := range l.segs { // crash: no Close
		s.f.Close()
	}
	m, l = openTest(t, dir, cfg)
	defer m.Close()
	if l.scanned == 0 || l.LogEndOffset() != 42 {
		t.Fatalf("crash recovery scanned %d segments, LEO %d", l.scanned, l.LogEndOffset())
	}
}
