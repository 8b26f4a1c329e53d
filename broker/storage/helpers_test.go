package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/record"
)

var allCodecs = []codec.Type{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd}

// kv is a test record; a nil value is a tombstone.
type kv struct {
	key, value []byte
	ts         int64 // absolute timestamp; 0 = batch base
}

type batchOpts struct {
	codec    codec.Type
	pid      int64 // -1 = not idempotent
	epoch    int16
	seq      int32
	baseTime int64
}

// kbatch builds a batch with franz-go's encoder (kmsg.RecordBatch and
// kmsg.Record), compressed as franz-go would, like a real producer's.
// tb is the part of testing.TB kbatch needs, so a child process can use it.
type tb interface {
	Helper()
	Fatal(args ...any)
}

func kbatch(t tb, o batchOpts, recs ...kv) []byte {
	t.Helper()
	if o.baseTime == 0 {
		o.baseTime = 1_700_000_000_000
	}
	var raw []byte
	maxTs := o.baseTime
	for i, r := range recs {
		ts := r.ts
		if ts == 0 {
			ts = o.baseTime
		}
		maxTs = max(maxTs, ts)
		kr := kmsg.Record{TimestampDelta64: ts - o.baseTime, OffsetDelta: int32(i), Key: r.key, Value: r.value}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		raw = kr.AppendTo(raw)
	}
	body := raw
	if o.codec != codec.None {
		var err error
		if body, err = codec.Compress(o.codec, nil, raw); err != nil {
			t.Fatal(err)
		}
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(o.codec),
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: o.baseTime, MaxTimestamp: maxTs,
		ProducerID: o.pid, ProducerEpoch: o.epoch, FirstSequence: o.seq, NumRecords: int32(len(recs)), Records: body,
	}
	if o.pid < 0 {
		rb.ProducerEpoch, rb.FirstSequence = -1, -1
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// simple builds an n-record batch with values "v<prefix>-<i>".
func simple(t tb, c codec.Type, prefix string, n int) []byte {
	recs := make([]kv, n)
	for i := range recs {
		recs[i] = kv{key: []byte(fmt.Sprintf("k%d", i)), value: []byte(fmt.Sprintf("v%s-%d", prefix, i))}
	}
	return kbatch(t, batchOpts{codec: c, pid: -1}, recs...)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newManager(t testing.TB, dir string, clk *clock) *Manager {
	t.Helper()
	cfg := ManagerConfig{Dir: dir}
	if clk != nil {
		cfg.Now = clk.now
	}
	m, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openTest(t testing.TB, dir string, cfg LogConfig) (*Manager, *Log) {
	t.Helper()
	m := newManager(t, dir, nil)
	l, err := m.OpenPartition("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(append([]byte(nil), b...), 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func code(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -1
}

// readAll reads every record from the log start to the log end.
func readAll(t testing.TB, l *Log) (offsets []int64, values []string) {
	t.Helper()
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		res, err := l.Read(off, ReadOptions{MaxBytes: 1 << 20, MinOneBatch: true, UpTo: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("no records at %d (LEO %d)", off, l.LogEndOffset())
		}
		err = record.Each(res.Records, func(b []byte) error {
			h, recs, err := record.Records(b)
			if err != nil {
				return err
			}
			for _, r := range recs {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o < off {
					continue
				}
				offsets = append(offsets, o)
				if r.Value == nil {
					values = append(values, string(r.Key)+"=<nil>")
				} else {
					values = append(values, string(r.Key)+"="+string(r.Value))
				}
			}
			off = h.LastOffset() + 1
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return offsets, values
}

func timeAt(ms int64) time.Time { return time.UnixMilli(ms) }
