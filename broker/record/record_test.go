package record

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/codec"
)

func kafkaCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -1
}

func TestValidateKmsgBatchesEveryCodec(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := kbatch(t, c, 20, 50, 7, 3)
			h, err := Validate(b, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != c || h.NumRecords != 20 || h.LastOffsetDelta != 19 || h.ProducerID != 7 || h.BaseSequence != 3 || h.LastSequence() != 22 {
				t.Fatalf("header %+v", h)
			}
			_, recs, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 20 || string(recs[3].Key) != "key-3" || len(recs[3].Value) != 50 || recs[3].Headers[0].Key != "h" {
				t.Fatalf("records %+v", recs[3])
			}
			// franz-go must read what we check, and agree on the fields.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil || kb.NumRecords != 20 {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodeRoundTripAndFranzReadsIt(t *testing.T) {
	recs := []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("a"), Value: []byte("1"), Headers: []RecordHeader{{Key: "x", Value: nil}}},
		{OffsetDelta: 1, TimestampDelta: 5, Key: nil, Value: nil},
		{OffsetDelta: 2, TimestampDelta: 9, Key: []byte("c"), Value: bytes.Repeat([]byte("z"), 1000)},
	}
	for _, c := range allCodecs {
		b, err := Encode(Header{BaseOffset: 100, FirstTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs, c)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b, 0)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if h.BaseOffset != 100 || h.MaxTimestamp != 1009 || h.Codec() != c {
			t.Fatalf("%s: header %+v", c, h)
		}
		_, got, err := Records(b)
		if err != nil || len(got) != 3 {
			t.Fatal(err)
		}
		if got[1].Key != nil || got[1].Value != nil || got[0].Headers[0].Value != nil || !bytes.Equal(got[2].Value, recs[2].Value) {
			t.Fatalf("%s: null handling %+v", c, got)
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil || kb.LastOffsetDelta != 2 {
			t.Fatal(err)
		}
	}
}

func TestBadInputCodes(t *testing.T) {
	good := kbatch(t, codec.None, 5, 10, -1, -1)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
		max  int32
		code int16
	}{
		{"crc", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), 0, kerr.CorruptMessage.Code},
		{"magic1", mut(func(b []byte) []byte { b[16] = 1; return b }), 0, kerr.InvalidRecord.Code},
		{"magic7", mut(func(b []byte) []byte { b[16] = 7; return b }), 0, kerr.CorruptMessage.Code},
		{"truncated", good[:len(good)-3], 0, kerr.CorruptMessage.Code},
		{"header-only", good[:40], 0, kerr.CorruptMessage.Code},
		{"oversized", good, int32(len(good) - 1), kerr.MessageTooLarge.Code},
		{"count", mut(func(b []byte) []byte { b[60]++; UpdateCRC(b); return b }), 0, kerr.InvalidRecord.Code},
		{"delta", mut(func(b []byte) []byte { b[26]++; UpdateCRC(b); return b }), 0, kerr.InvalidRecord.Code},
		{"control", mut(func(b []byte) []byte { b[22] |= AttrControl; UpdateCRC(b); return b }), 0, kerr.InvalidRecord.Code},
		{"record-length", mut(func(b []byte) []byte { b[61] += 2; UpdateCRC(b); return b }), 0, kerr.InvalidRecord.Code},
	}
	for _, tc := range cases {
		_, err := Validate(tc.b, tc.max)
		if got := kafkaCode(err); got != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.name, got, err, tc.code)
		}
	}
}

func TestSplitAndRewrites(t *testing.T) {
	a, b := kbatch(t, codec.None, 3, 5, -1, -1), kbatch(t, codec.Zstd, 4, 5, -1, -1)
	all := append(append([]byte(nil), a...), b...)
	parts, err := Split(all)
	if err != nil || len(parts) != 2 || len(parts[1]) != len(b) {
		t.Fatal(parts, err)
	}
	if _, err := Split(all[:len(all)-1]); kafkaCode(err) != kerr.CorruptMessage.Code {
		t.Fatal(err)
	}
	SetBaseOffset(parts[1], 42)
	SetPartitionLeaderEpoch(parts[1], 3)
	h, err := Validate(parts[1], 0) // CRC still valid: fields outside it
	if err != nil || h.BaseOffset != 42 || h.PartitionLeaderEpoch != 3 || h.LastOffset() != 45 {
		t.Fatal(h, err)
	}
	SetLogAppendTime(parts[0], 123456)
	h, err = Validate(parts[0], 0)
	if err != nil || !h.LogAppendTime() || h.MaxTimestamp != 123456 {
		t.Fatal(h, err)
	}
}

func TestSequenceWrap(t *testing.T) {
	if IncrementSequence(1<<31-1, 1) != 0 || IncrementSequence(1<<31-3, 5) != 2 || IncrementSequence(5, 2) != 7 {
		t.Fatal("wrap")
	}
}

// TestWriteFuzzSeeds regenerates the checked-in seed corpus when
// SLUICE_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SLUICE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set SLUICE_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz/FuzzValidate")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzValidate")
	for i, c := range allCodecs {
		b := kbatch(t, c, 3, 8, int64(i)-1, int32(i)-1)
		data := []byte("go test fuzz v1\n[]byte(" + quote(b) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, "seed-"+c.String()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quote(b []byte) string {
	var sb bytes.Buffer
	sb.WriteByte('"')
	for _, c := range b {
		sb.WriteString(`\x`)
		sb.WriteByte("0123456789abcdef"[c>>4])
		sb.WriteByte("0123456789abcdef"[c&15])
	}
	sb.WriteByte('"')
	return sb.String()
}

func FuzzValidate(f *testing.F) {
	f.Add(kbatch(f, codec.None, 2, 4, -1, -1))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Validate(b, 1<<20)
		if err != nil {
			if kafkaCode(err) < 0 {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// A valid batch must decode fully and re-encode to a valid batch.
		_, recs, err := Records(b)
		if err != nil || len(recs) != int(h.NumRecords) {
			t.Fatalf("valid batch does not decode: %v", err)
		}
		out, err := Encode(h, recs, h.Codec())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Validate(out, 0); err != nil {
			t.Fatalf("re-encoded batch invalid: %v", err)
		}
	})
}
