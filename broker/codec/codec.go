// Package codec implements the record-batch compression codecs Kafka names by
// attribute id (none, gzip, snappy, lz4, zstd), so the broker can decompress
// batches it must inspect (compaction) and recompress them with the same codec.
package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Type is a compression codec as numbered in the low three bits of a
// RecordBatch's attributes.
type Type int8

// Codec ids as Kafka defines them.
const (
	None   Type = 0
	Gzip   Type = 1
	Snappy Type = 2
	LZ4    Type = 3
	Zstd   Type = 4
)

// MaxDecompressed caps the decompressed size of one batch body, so that a
// small hostile batch cannot make the broker allocate without bound.
const MaxDecompressed = 256 << 20

// limit is MaxDecompressed; a variable so tests can lower it.
var limit = MaxDecompressed

// ErrTooLarge is returned when decompressed data would pass MaxDecompressed.
var ErrTooLarge = errors.New("codec: decompressed data exceeds the limit")

// ErrUnknown is returned for a codec id or name Kafka does not define.
var ErrUnknown = errors.New("codec: unknown compression type")

// String returns Kafka's name for the codec ("none", "gzip", ...).
func (t Type) String() string {
	switch t {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("unknown(%d)", int8(t))
}

// Valid reports whether t is a codec Kafka defines.
func (t Type) Valid() bool { return t >= None && t <= Zstd }

// ParseName maps a compression.type value to a codec. "uncompressed" is
// accepted as Kafka's topic-level alias of "none".
func ParseName(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "uncompressed":
		return None, nil
	case "gzip":
		return Gzip, nil
	case "snappy":
		return Snappy, nil
	case "lz4":
		return LZ4, nil
	case "zstd":
		return Zstd, nil
	}
	return None, fmt.Errorf("%w: %q", ErrUnknown, s)
}

// Compress appends the compressed form of src to dst and returns the result.
func Compress(t Type, dst, src []byte) ([]byte, error) {
	switch t {
	case None:
		return append(dst, src...), nil
	case Gzip:
		return gzipCompress(dst, src)
	case Snappy:
		// Raw snappy block: every Kafka client decodes it; xerial framing is
		// only a Java-producer habit.
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return nil, errors.New("codec: snappy input too large")
		}
		start := len(dst)
		dst = grow(dst, n)
		out := s2.EncodeSnappy(dst[start:start+n], src)
		return dst[:start+len(out)], nil
	case LZ4:
		return lz4Compress(dst, src)
	case Zstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknown, int8(t))
}

// Decompress returns the decompressed form of src in a new slice.
func Decompress(t Type, src []byte) ([]byte, error) {
	switch t {
	case None:
		return append([]byte(nil), src...), nil
	case Gzip:
		return gzipDecompress(src)
	case Snappy:
		return snappyDecompress(src)
	case LZ4:
		return lz4Decompress(src)
	case Zstd:
		dec, err := zstdDecoder()
		if err != nil {
			return nil, err
		}
		out, err := dec.DecodeAll(src, nil)
		if err != nil {
			return nil, fmt.Errorf("codec: zstd: %w", err)
		}
		if len(out) > limit {
			return nil, ErrTooLarge
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknown, int8(t))
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, len(b)+n+len(b)/4)
	copy(nb, b)
	return nb
}

// appendWriter lets stream compressors append to a caller's slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipCompress(dst, src []byte) ([]byte, error) {
	gw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(gw)
	aw := &appendWriter{b: dst}
	gw.Reset(aw)
	if _, err := gw.Write(src); err != nil {
		return nil, fmt.Errorf("codec: gzip: %w", err)
	}
	if err := gw.Close(); err != nil {
		return nil, fmt.Errorf("codec: gzip: %w", err)
	}
	return aw.b, nil
}

var gzipReaders sync.Pool

func gzipDecompress(src []byte) ([]byte, error) {
	var gr *gzip.Reader
	if v := gzipReaders.Get(); v != nil {
		gr = v.(*gzip.Reader)
		if err := gr.Reset(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("codec: gzip: %w", err)
		}
	} else {
		var err error
		if gr, err = gzip.NewReader(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("codec: gzip: %w", err)
		}
	}
	defer gzipReaders.Put(gr)
	return readLimited(gr, "gzip")
}

// readLimited reads r to the end, failing past MaxDecompressed.
func readLimited(r io.Reader, name string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("codec: %s: %w", name, err)
	}
	if len(out) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

// xerialMagic opens the framing that Java's snappy-java (and so Kafka's Java
// producer) wraps around snappy blocks.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func snappyDecompress(src []byte) ([]byte, error) {
	if len(src) < 16 || !bytes.Equal(src[:8], xerialMagic) {
		if n, err := s2.DecodedLen(src); err != nil {
			return nil, fmt.Errorf("codec: snappy: %w", err)
		} else if n > limit {
			return nil, ErrTooLarge
		}
		out, err := s2.Decode(nil, src)
		if err != nil {
			return nil, fmt.Errorf("codec: snappy: %w", err)
		}
		return out, nil
	}
	// Xerial: 8-byte magic, int32 version, int32 min compatible version, then
	// blocks of int32 big-endian length + raw snappy.
	var out []byte
	rest := src[16:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return nil, errors.New("codec: snappy: truncated xerial block length")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, errors.New("codec: snappy: truncated xerial block")
		}
		dl, err := s2.DecodedLen(rest[:n])
		if err != nil {
			return nil, fmt.Errorf("codec: snappy: %w", err)
		}
		if len(out)+dl > limit {
			return nil, ErrTooLarge
		}
		start := len(out)
		out = grow(out, dl)
		if _, err := s2.Decode(out[start:], rest[:n]); err != nil {
			return nil, fmt.Errorf("codec: snappy: %w", err)
		}
		rest = rest[n:]
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

var lz4Writers = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}

func lz4Compress(dst, src []byte) ([]byte, error) {
	lw := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(lw)
	aw := &appendWriter{b: dst}
	lw.Reset(aw)
	if _, err := lw.Write(src); err != nil {
		return nil, fmt.Errorf("codec: lz4: %w", err)
	}
	if err := lw.Close(); err != nil {
		return nil, fmt.Errorf("codec: lz4: %w", err)
	}
	return aw.b, nil
}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func lz4Decompress(src []byte) ([]byte, error) {
	lr := lz4Readers.Get().(*lz4.Reader)
	defer lz4Readers.Put(lr)
	lr.Reset(bytes.NewReader(src))
	return readLimited(lr, "lz4")
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

// The zstd encoder and decoder are safe for concurrent EncodeAll/DecodeAll,
// so one of each serves the process.
func zstdInit() {
	zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if zstdErr != nil {
		return
	}
	// Cap the window so a hostile frame cannot make us allocate without bound.
	zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(MaxDecompressed))
}

func zstdEncoder() (*zstd.Encoder, error) { zstdOnce.Do(zstdInit); return zstdEnc, zstdErr }
func zstdDecoder() (*zstd.Decoder, error) { zstdOnce.Do(zstdInit); return zstdDec, zstdErr }
