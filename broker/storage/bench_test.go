package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/record"
)

// benchBatches builds a ring of distinct ~16 KiB uncompressed batches of
// records with values of valueSize bytes, made with franz-go's encoder.
func benchBatches(b *testing.B, valueSize int) (batches [][]byte, recsPerBatch int) {
	per := (16 << 10) / (valueSize + 20)
	for i := 0; i < 8; i++ {
		recs := make([]kv, per)
		for j := range recs {
			v := make([]byte, valueSize)
			for k := range v {
				v[k] = byte('a' + (i+j+k)%26)
			}
			recs[j] = kv{key: []byte(fmt.Sprintf("key-%06d", j)), value: v}
		}
		batches = append(batches, kbatch(b, batchOpts{codec: codec.None, pid: -1}, recs...))
	}
	return batches, per
}

// BenchmarkAppend measures Log.Append of 16 KiB batches: flushing off
// (page cache only, as Kafka's default) and with a group-commit fsync every
// 1 MiB (flush.messages set to the records in 1 MiB).
func BenchmarkAppend(b *testing.B) {
	for _, vs := range []int{1024, 100} {
		for _, mode := range []string{"noflush", "fsync1MiB"} {
			b.Run(fmt.Sprintf("value=%dB/%s", vs, mode), func(b *testing.B) {
				batches, per := benchBatches(b, vs)
				cfg := DefaultLogConfig()
				if mode == "fsync1MiB" {
					cfg.FlushMessages = int64((1 << 20) / len(batches[0]) * per)
				}
				m, l := openTest(b, b.TempDir(), cfg)
				defer m.Close()
				work := make([]byte, len(batches[0]))
				b.SetBytes(int64(len(batches[0])))
				b.ReportAllocs()
				quiesce()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					src := batches[i%len(batches)]
					work = append(work[:0], src...) // the request buffer Append rewrites in place
					if _, err := l.Append(work, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkRawWrite is the peer: plain write(2) of the same bytes to a file,
// with the same copy into a request buffer and, for fsync1MiB, an fsync
// every 1 MiB.
func BenchmarkRawWrite(b *testing.B) {
	for _, vs := range []int{1024, 100} {
		for _, mode := range []string{"noflush", "fsync1MiB"} {
			b.Run(fmt.Sprintf("value=%dB/%s", vs, mode), func(b *testing.B) {
				batches, per := benchBatches(b, vs)
				f, err := os.Create(filepath.Join(b.TempDir(), "raw.log"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				work := make([]byte, len(batches[0]))
				b.SetBytes(int64(len(batches[0])))
				quiesce()
				b.ResetTimer()
				var since int
				for i := 0; i < b.N; i++ {
					work = append(work[:0], batches[i%len(batches)]...)
					if _, err := f.Write(work); err != nil {
						b.Fatal(err)
					}
					since += len(work)
					if mode == "fsync1MiB" && since >= 1<<20 {
						if err := f.Sync(); err != nil {
							b.Fatal(err)
						}
						since = 0
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkRead measures sequential Log.Read of 1 MiB fetches from the
// page cache.
func BenchmarkRead(b *testing.B) {
	batches, per := benchBatches(b, 1024)
	m, l := openTest(b, b.TempDir(), DefaultLogConfig())
	defer m.Close()
	for i := 0; i < 64<<20/len(batches[0]); i++ {
		if _, err := l.Append(append([]byte(nil), batches[i%len(batches)]...), 0); err != nil {
			b.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	b.ReportAllocs()
	b.ResetTimer()
	var total int64
	off := int64(0)
	for i := 0; i < b.N; i++ {
		res, err := l.Read(off, ReadOptions{MaxBytes: 1 << 20, UpTo: -1})
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(res.Records))
		off += int64(len(res.Records) / len(batches[0]) * per)
		if off >= l.LogEndOffset() {
			off = 0
		}
	}
	b.StopTimer()
	b.SetBytes(total / int64(b.N))
	b.ReportMetric(float64(total/int64(len(batches[0]))*int64(per))/b.Elapsed().Seconds(), "records/s")
}

var _ = record.HeaderSize

// quiesce writes back dirty pages left by the previous benchmark, so that
// each one starts without a writeback backlog competing with its writes
// and fsyncs (otherwise whichever runs second pays for the first).
func quiesce() { syscall.Sync() }
