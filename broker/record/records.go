package record

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sluicehq/sluice/broker/codec"
)

// RecordHeader is one record header; Value nil means null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a batch. Key and Value nil mean null.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte
	Headers        []RecordHeader
}

// Iter walks the records of one batch. Key, Value and header values alias
// the batch (or its decompressed body), and Next reuses the Headers slice of
// the Record it fills, so a walk allocates nothing per record (header keys
// excepted, which are strings).
type Iter struct {
	body    []byte
	left    int32
	err     error
	headers bool
}

// NewIter checks the batch's frame and returns an iterator over its records,
// decompressing the body if the batch is compressed.
func NewIter(b []byte) (*Iter, error) {
	h, err := checkFrame(b)
	if err != nil {
		return nil, err
	}
	it := &Iter{left: h.NumRecords, headers: true}
	return it, it.init(h, b)
}

func (it *Iter) init(h Header, b []byte) error {
	it.body = b[HeaderSize:]
	if c := h.Codec(); c != codec.None {
		out, err := codec.Decompress(c, it.body)
		if err != nil {
			return corrupt("decompressing %s batch: %v", c, err)
		}
		it.body = out
	}
	return nil
}

// Next decodes the next record into r and reports whether there was one.
// After it returns false, Err says whether the walk ended cleanly.
func (it *Iter) Next(r *Record) bool {
	if it.err != nil {
		return false
	}
	if it.left == 0 {
		if len(it.body) != 0 {
			it.err = invalid("%d bytes remain after the last record", len(it.body))
		}
		return false
	}
	n, err := parseRecord(it.body, r, it.headers)
	if err != nil {
		it.err = err
		return false
	}
	it.body = it.body[n:]
	it.left--
	return true
}

// Err is the error that stopped the walk, if any.
func (it *Iter) Err() error { return it.err }

// Records decodes every record of one batch. The returned records alias b or
// the decompressed body.
func Records(b []byte) (Header, []Record, error) {
	h, err := checkFrame(b)
	if err != nil {
		return h, nil, err
	}
	it := &Iter{left: h.NumRecords, headers: true}
	if err := it.init(h, b); err != nil {
		return h, nil, err
	}
	recs := make([]Record, 0, min(int(h.NumRecords), len(it.body)))
	for {
		recs = append(recs, Record{})
		if !it.Next(&recs[len(recs)-1]) {
			recs = recs[:len(recs)-1]
			break
		}
	}
	return h, recs, it.Err()
}

func varint(b []byte) (int64, int, error) {
	// Fast path: most lengths and deltas fit in one byte.
	if len(b) > 0 && b[0] < 0x80 {
		u := int64(b[0])
		return (u >> 1) ^ -(u & 1), 1, nil
	}
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, 0, invalid("bad varint")
	}
	return v, n, nil
}

func varint32(b []byte) (int32, int, error) {
	v, n, err := varint(b)
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		err = invalid("varint %d out of int32 range", v)
	}
	return int32(v), n, err
}

// bytesField reads a varint length and that many bytes; -1 means null.
func bytesField(b []byte) ([]byte, int, error) {
	l, n, err := varint32(b)
	if err != nil {
		return nil, 0, err
	}
	if l < 0 {
		if l != -1 {
			return nil, 0, invalid("negative length %d", l)
		}
		return nil, n, nil
	}
	if int(l) > len(b)-n {
		return nil, 0, invalid("field of %d bytes overruns the record", l)
	}
	return b[n : n+int(l) : n+int(l)], n + int(l), nil
}

// parseRecord decodes one length-prefixed record from b into r and returns
// the bytes it used. The record must end exactly where its length says.
func parseRecord(b []byte, r *Record, keepHeaders bool) (int, error) {
	l, n, err := varint32(b)
	if err != nil {
		return 0, err
	}
	if l < 1 || int(l) > len(b)-n {
		return 0, invalid("record length %d with %d bytes left", l, len(b)-n)
	}
	total := n + int(l)
	rb := b[n:total]
	p := 1
	if r.TimestampDelta, n, err = varint(rb[p:]); err != nil {
		return 0, err
	}
	p += n
	if r.OffsetDelta, n, err = varint32(rb[p:]); err != nil {
		return 0, err
	}
	p += n
	if r.Key, n, err = bytesField(rb[p:]); err != nil {
		return 0, err
	}
	p += n
	if r.Value, n, err = bytesField(rb[p:]); err != nil {
		return 0, err
	}
	p += n
	nh, n, err := varint32(rb[p:])
	if err != nil {
		return 0, err
	}
	p += n
	if nh < 0 || int(nh) > len(rb)-p {
		return 0, invalid("bad header count %d", nh)
	}
	r.Headers = r.Headers[:0]
	for i := int32(0); i < nh; i++ {
		k, n, err := bytesField(rb[p:])
		if err != nil {
			return 0, err
		}
		if k == nil {
			return 0, invalid("null header key")
		}
		p += n
		v, n, err := bytesField(rb[p:])
		if err != nil {
			return 0, err
		}
		p += n
		if keepHeaders {
			r.Headers = append(r.Headers, RecordHeader{Key: string(k), Value: v})
		}
	}
	if p != len(rb) {
		return 0, invalid("record length %d but %d bytes used", l, p)
	}
	return total, nil
}

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendBytesField(b, v []byte) []byte {
	if v == nil {
		return appendVarint(b, -1)
	}
	return append(appendVarint(b, int64(len(v))), v...)
}

func sizeVarint(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func sizeBytesField(v []byte) int {
	if v == nil {
		return 1
	}
	return sizeVarint(int64(len(v))) + len(v)
}

// AppendRecord appends the wire form of r (length-prefixed) to b.
func AppendRecord(b []byte, r *Record) []byte {
	body := 1 + sizeVarint(r.TimestampDelta) + sizeVarint(int64(r.OffsetDelta)) +
		sizeBytesField(r.Key) + sizeBytesField(r.Value) + sizeVarint(int64(len(r.Headers)))
	for i := range r.Headers {
		body += sizeVarint(int64(len(r.Headers[i].Key))) + len(r.Headers[i].Key) + sizeBytesField(r.Headers[i].Value)
	}
	b = appendVarint(b, int64(body))
	b = append(b, 0) // record attributes: unused by Kafka
	b = appendVarint(b, r.TimestampDelta)
	b = appendVarint(b, int64(r.OffsetDelta))
	b = appendBytesField(b, r.Key)
	b = appendBytesField(b, r.Value)
	b = appendVarint(b, int64(len(r.Headers)))
	for i := range r.Headers {
		b = appendVarint(b, int64(len(r.Headers[i].Key)))
		b = append(b, r.Headers[i].Key...)
		b = appendBytesField(b, r.Headers[i].Value)
	}
	return b
}

// Encode builds a v2 batch from h and recs, compressed with c. It takes
// BaseOffset, PartitionLeaderEpoch, the transactional/control/timestamp-type
// attribute bits, timestamps and producer fields from h, and fills Magic,
// the codec bits, BatchLength, NumRecords and CRC. LastOffsetDelta is the
// larger of h.LastOffsetDelta and the last record's OffsetDelta, so a batch
// rebuilt by compaction keeps its original offset span; MaxTimestamp is
// raised to cover the records if h's is lower.
func Encode(h Header, recs []Record, c codec.Type) ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("%w: %d", codec.ErrUnknown, c)
	}
	var maxDelta int64 = math.MinInt64
	for i := range recs {
		if i > 0 && recs[i].OffsetDelta <= recs[i-1].OffsetDelta {
			return nil, invalid("offset deltas must increase: %d after %d", recs[i].OffsetDelta, recs[i-1].OffsetDelta)
		}
		maxDelta = max(maxDelta, recs[i].TimestampDelta)
	}
	if n := len(recs); n > 0 {
		if recs[0].OffsetDelta < 0 {
			return nil, invalid("negative offset delta")
		}
		h.LastOffsetDelta = max(h.LastOffsetDelta, recs[n-1].OffsetDelta)
		if h.MaxTimestamp < h.FirstTimestamp+maxDelta && h.Attributes&AttrLogAppendTime == 0 {
			h.MaxTimestamp = h.FirstTimestamp + maxDelta
		}
	}
	out := make([]byte, HeaderSize, HeaderSize+64*len(recs))
	if c == codec.None {
		for i := range recs {
			out = AppendRecord(out, &recs[i])
		}
	} else {
		var raw []byte
		for i := range recs {
			raw = AppendRecord(raw, &recs[i])
		}
		var err error
		if out, err = codec.Compress(c, out, raw); err != nil {
			return nil, err
		}
	}
	if len(out)-LogOverhead > math.MaxInt32 {
		return nil, invalid("batch too large")
	}
	be := binary.BigEndian
	be.PutUint64(out[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(out[offBatchLength:], uint32(len(out)-LogOverhead))
	be.PutUint32(out[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	out[offMagic] = CurrentMagic
	be.PutUint16(out[offAttributes:], uint16(h.Attributes&^AttrCodecMask|int16(c)))
	be.PutUint32(out[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(out[offFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(out[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(out[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(out[offNumRecords:], uint32(len(recs)))
	UpdateCRC(out)
	return out, nil
}
