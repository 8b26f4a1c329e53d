// Package record encodes and decodes Kafka RecordBatches (magic v2) as pure
// functions over byte slices: header parsing, validation as a Kafka leader
// does it on produce, record iteration, encoding, and the in-place header
// rewrites the log performs on append. It does no I/O.
package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/codec"
)

// HeaderSize is the fixed size of a v2 batch header, records excluded.
const HeaderSize = 61

// Byte offsets of the header fields, as Kafka's DefaultRecordBatch lays them out.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// LogOverhead is the part of a batch not counted by BatchLength.
	LogOverhead = 12
)

// Attribute bits.
const (
	AttrCodecMask     = 0x07
	AttrLogAppendTime = 0x08
	AttrTransactional = 0x10
	AttrControl       = 0x20
	AttrDeleteHorizon = 0x40
)

// CurrentMagic is the only batch format Sluice accepts (as Kafka 4.0).
const CurrentMagic = 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded v2 batch header.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Codec is the compression codec named in the attributes.
func (h Header) Codec() codec.Type { return codec.Type(h.Attributes & AttrCodecMask) }

// IsTransactional reports the transactional attribute bit.
func (h Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports the control-batch attribute bit (transaction markers).
func (h Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// LogAppendTime reports whether timestamps are the broker's append time.
func (h Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// HasDeleteHorizon reports whether FirstTimestamp carries a compaction delete
// horizon (KIP-534) instead of the first record's timestamp.
func (h Header) HasDeleteHorizon() bool { return h.Attributes&AttrDeleteHorizon != 0 }

// LastOffset is the offset of the batch's last record slot.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Size is the whole batch's length in bytes.
func (h Header) Size() int { return LogOverhead + int(h.BatchLength) }

// HasProducerID reports whether the batch comes from an idempotent producer.
func (h Header) HasProducerID() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// at MaxInt32 as Kafka's DefaultRecordBatch.incrementSequence does.
func (h Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	return IncrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

// IncrementSequence adds inc to seq, wrapping past MaxInt32 to 0.
func IncrementSequence(seq, inc int32) int32 {
	if seq > (1<<31-1)-inc {
		return inc - ((1<<31 - 1) - seq) - 1
	}
	return seq + inc
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kerr.CorruptMessage}, args...)...)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kerr.InvalidRecord}, args...)...)
}

// ParseHeader decodes the header of the batch at the start of b without
// checking the CRC or that b holds the whole batch.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, corrupt("batch of %d bytes is shorter than the %d-byte header", len(b), HeaderSize)
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
	return h, nil
}

// checkFrame verifies what every stored or received batch must satisfy: a
// sane length that matches len(b), magic 2, and the CRC-32C over
// attributes..end. Magic 0 and 1 are rejected with INVALID_RECORD, as
// Kafka's ProduceRequest.validateRecords does for produce v3+; other magic
// values are CORRUPT_MESSAGE, as Kafka's batch iterator treats them.
func checkFrame(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.BatchLength < HeaderSize-LogOverhead {
		return h, corrupt("batch length %d is below the minimum %d", h.BatchLength, HeaderSize-LogOverhead)
	}
	if h.Size() != len(b) {
		return h, corrupt("batch length %d does not match the %d bytes given", h.BatchLength, len(b)-LogOverhead)
	}
	if h.Magic != CurrentMagic {
		if h.Magic == 0 || h.Magic == 1 {
			return h, invalid("record batches with magic %d are not supported; only magic 2", h.Magic)
		}
		return h, corrupt("invalid magic %d", h.Magic)
	}
	if crc := crc32.Checksum(b[offAttributes:], castagnoli); crc != h.CRC {
		return h, corrupt("CRC mismatch: header says %08x, computed %08x", h.CRC, crc)
	}
	if h.NumRecords < 0 {
		return h, invalid("negative record count %d", h.NumRecords)
	}
	if h.LastOffsetDelta < 0 {
		return h, invalid("negative last offset delta %d", h.LastOffsetDelta)
	}
	if !h.Codec().Valid() {
		return h, corrupt("unknown compression codec %d", h.Codec())
	}
	return h, nil
}

// CheckStored verifies a batch read back from the log: framing, magic, CRC
// and codec, as Kafka's recovery does with ensureValid. It does not parse
// records, and allows the shapes compaction leaves (offset gaps, empty
// batches).
func CheckStored(b []byte) (Header, error) { return checkFrame(b) }

// Validate checks one whole batch as a Kafka leader checks a batch from a
// producer: size against maxBatchBytes (<= 0 means no limit), framing, magic,
// CRC, that the record count matches LastOffsetDelta+1, that control batches
// and idempotent batches without a sequence are refused, and that every
// record parses and ends exactly where its length says, with offset deltas
// 0..n-1. Compressed batches are decompressed for the record checks.
//
// Errors wrap kerr.MessageTooLarge, kerr.CorruptMessage or kerr.InvalidRecord.
func Validate(b []byte, maxBatchBytes int32) (Header, error) {
	if maxBatchBytes > 0 && len(b) > int(maxBatchBytes) {
		return Header{}, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(b), maxBatchBytes)
	}
	h, err := checkFrame(b)
	if err != nil {
		return h, err
	}
	if h.NumRecords == 0 {
		return h, invalid("batch has no records")
	}
	if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return h, invalid("record count %d does not match last offset delta %d", h.NumRecords, h.LastOffsetDelta)
	}
	if h.IsControl() {
		return h, invalid("clients may not write control batches")
	}
	if h.HasProducerID() && h.BaseSequence < 0 {
		return h, invalid("idempotent batch from producer %d has no sequence", h.ProducerID)
	}
	body := b[HeaderSize:]
	if c := h.Codec(); c != codec.None {
		if body, err = codec.Decompress(c, body); err != nil {
			return h, corrupt("decompressing %s batch: %v", c, err)
		}
	}
	p := 0
	for i := int32(0); i < h.NumRecords; i++ {
		var delta int64
		var ok bool
		if p, delta, ok = skipRecord(body, p); !ok {
			return h, invalid("record %d is malformed", i)
		}
		if delta != int64(i) {
			return h, invalid("record %d has offset delta %d", i, delta)
		}
	}
	if p != len(body) {
		return h, invalid("%d bytes remain after the last record", len(body)-p)
	}
	return h, nil
}

// readVarint decodes a zigzag varint at b[p:], returning the value and the
// position after it, or -1 on a malformed or truncated varint. Hand-rolled
// and small enough to inline, because validation runs it several times per
// record on the append path.
func readVarint(b []byte, p int) (int64, int) {
	var u uint64
	for s := uint(0); p < len(b) && s < 64; s += 7 {
		c := b[p]
		p++
		u |= uint64(c&0x7f) << s
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), p
		}
	}
	return 0, -1
}

// skipField skips a varint-length-prefixed field of b (which ends where
// the record ends); null (-1) is allowed if nullable.
func skipField(b []byte, p int, nullable bool) int {
	l, p := readVarint(b, p)
	if p < 0 || l < -1 || (l == -1 && !nullable) || l > int64(len(b)-p) {
		return -1
	}
	return p + int(max(l, 0))
}

// skipRecord checks the structure of the record at b[p:] as parseRecord
// does, without decoding it, and returns the position after it and its
// offset delta. Key and value are skipped inline: this is the per-record
// cost of every append.
func skipRecord(b []byte, p int) (int, int64, bool) {
	l, p := readVarint(b, p)
	if p < 0 || l < 1 || l > int64(len(b)-p) {
		return 0, 0, false
	}
	rb := b[:p+int(l)]
	p++ // attributes
	_, p = readVarint(rb, p)
	if p < 0 {
		return 0, 0, false
	}
	delta, p := readVarint(rb, p)
	if p < 0 || delta < 0 || delta > 1<<31-1 {
		return 0, 0, false
	}
	kl, p := readVarint(rb, p)
	if p < 0 || kl < -1 || kl > int64(len(rb)-p) {
		return 0, 0, false
	}
	p += int(max(kl, 0))
	vl, p := readVarint(rb, p)
	if p < 0 || vl < -1 || vl > int64(len(rb)-p) {
		return 0, 0, false
	}
	p += int(max(vl, 0))
	nh, p := readVarint(rb, p)
	if p < 0 || nh < 0 || nh > int64(len(rb)-p) {
		return 0, 0, false
	}
	for i := int64(0); i < nh; i++ {
		if p = skipField(rb, p, false); p < 0 {
			return 0, 0, false
		}
		if p = skipField(rb, p, true); p < 0 {
			return 0, 0, false
		}
	}
	return p, delta, p == len(rb)
}

// Split cuts concatenated batches (a produce request's records field) into
// one slice per batch, aliasing b. It checks only the length fields; a
// trailing partial batch is an error (CORRUPT_MESSAGE).
func Split(b []byte) ([][]byte, error) {
	var out [][]byte
	err := Each(b, func(batch []byte) error {
		out = append(out, batch)
		return nil
	})
	return out, err
}

// Each calls fn for each batch in b, in order, without allocating; it stops
// at fn's first error and returns it.
func Each(b []byte, fn func(batch []byte) error) error {
	for len(b) > 0 {
		n, err := NextSize(b)
		if err != nil {
			return err
		}
		if err := fn(b[:n:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// NextSize returns the size of the batch at the start of b, checking that the
// length is sane and that b holds all of it.
func NextSize(b []byte) (int, error) {
	if len(b) < LogOverhead+5 {
		return 0, corrupt("truncated batch: %d bytes left", len(b))
	}
	bl := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	if bl < HeaderSize-LogOverhead {
		return 0, corrupt("batch length %d is below the minimum %d", bl, HeaderSize-LogOverhead)
	}
	n := LogOverhead + int(bl)
	if n > len(b) {
		return 0, corrupt("truncated batch: length says %d bytes, %d present", n, len(b))
	}
	return n, nil
}

// SetBaseOffset rewrites the base offset in place. The field is outside the
// CRC, so the CRC stays valid.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the leader epoch in place (outside the CRC).
func SetPartitionLeaderEpoch(b []byte, e int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch's timestamps as LogAppendTime and sets
// MaxTimestamp to ts, then recomputes the CRC, as Kafka's in-place
// DefaultRecordBatch.setMaxTimestamp does. Like Kafka, it leaves
// FirstTimestamp alone: readers of LogAppendTime batches take every record's
// timestamp from MaxTimestamp.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:])
	be.PutUint16(b[offAttributes:], attrs|AttrLogAppendTime)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	UpdateCRC(b)
}

// UpdateCRC recomputes and stores the CRC after a change to covered fields.
func UpdateCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}
