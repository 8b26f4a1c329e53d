package codec

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/s2"
)

func TestRoundTripEveryCodec(t *testing.T) {
	src := bytes.Repeat([]byte("sluice streams records "), 500)
	for _, c := range []Type{None, Gzip, Snappy, LZ4, Zstd} {
		prefix := []byte("keep")
		out, err := Compress(c, prefix, src)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("%s: dst prefix lost", c)
		}
		got, err := Decompress(c, out[4:])
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("%s: round trip failed: %v", c, err)
		}
		if c != None && len(out)-4 >= len(src) {
			t.Fatalf("%s: did not compress", c)
		}
		// Empty input round-trips too.
		e, err := Compress(c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Decompress(c, e); err != nil || len(got) != 0 {
			t.Fatalf("%s: empty: %v %d", c, err, len(got))
		}
	}
}

func TestSnappyXerialFraming(t *testing.T) {
	a, b := bytes.Repeat([]byte("first block "), 100), bytes.Repeat([]byte("second "), 100)
	framed := append([]byte(nil), xerialMagic...)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	for _, blk := range [][]byte{a, b} {
		enc := s2.EncodeSnappy(nil, blk)
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(enc)))
		framed = append(framed, enc...)
	}
	got, err := Decompress(Snappy, framed)
	if err != nil || !bytes.Equal(got, append(append([]byte(nil), a...), b...)) {
		t.Fatalf("xerial: %v", err)
	}
	if _, err := Decompress(Snappy, framed[:len(framed)-3]); err == nil {
		t.Fatal("truncated xerial frame accepted")
	}
}

func TestGarbageIsAnError(t *testing.T) {
	junk := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
	for _, c := range []Type{Gzip, Snappy, LZ4, Zstd} {
		if _, err := Decompress(c, junk); err == nil {
			t.Errorf("%s accepted garbage", c)
		}
	}
	if _, err := Compress(Type(9), nil, nil); err == nil {
		t.Fatal("unknown codec accepted")
	}
}

func TestParseName(t *testing.T) {
	for name, want := range map[string]Type{"none": None, "uncompressed": None, "GZIP": Gzip, "snappy": Snappy, "lz4": LZ4, "zstd": Zstd} {
		if got, err := ParseName(name); err != nil || got != want {
			t.Errorf("%s: %v %v", name, got, err)
		}
		if want.String() == "" {
			t.Error("empty name")
		}
	}
	if _, err := ParseName("brotli"); err == nil {
		t.Fatal("brotli accepted")
	}
}

func TestDecompressionBombRefused(t *testing.T) {
	defer func(l int) { limit = l }(limit)
	limit = 1 << 20
	big := make([]byte, limit+1024)
	for _, c := range []Type{Gzip, Snappy, LZ4, Zstd} {
		z, err := Compress(c, nil, big)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decompress(c, z); err == nil {
			t.Errorf("%s: %d-byte bomb accepted", c, len(z))
		}
	}
}
