package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/codec"
)

// kbatch builds a batch with franz-go's encoder (kmsg.RecordBatch and
// kmsg.Record), compressed with c, as a franz-go producer would send it.
func kbatch(t testing.TB, c codec.Type, n int, valueSize int, pid int64, seq int32) []byte {
	t.Helper()
	var raw []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("key-%d", i%7)),
			Value:            make([]byte, valueSize),
			Headers:          []kmsg.Header{{Key: "h", Value: []byte("v")}},
		}
		for j := range r.Value {
			r.Value[j] = byte('a' + (i+j)%26)
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		raw = r.AppendTo(raw)
	}
	body := raw
	if c != codec.None {
		var err error
		if body, err = codec.Compress(c, nil, raw); err != nil {
			t.Fatal(err)
		}
	}
	rb := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(c),
		LastOffsetDelta: int32(n - 1), FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_000 + int64(n-1),
		ProducerID: pid, ProducerEpoch: 0, FirstSequence: seq, NumRecords: int32(n), Records: body,
	}
	if pid < 0 {
		rb.ProducerEpoch, rb.FirstSequence = -1, -1
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

var allCodecs = []codec.Type{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd}
