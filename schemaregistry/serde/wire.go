// Package serde implements Confluent's wire format for Go producers and
// consumers and for Sluice's Connect converters and streams: a magic byte 0,
// the schema id as 4 bytes big-endian, for Protobuf the message indexes, then
// the payload. Avro and JSON Schema serdes fetch schemas by id from any
// Confluent-compatible registry and cache them.
package serde

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is the first byte of every framed message.
const Magic byte = 0

// ErrNotFramed is returned for data that does not start with the magic byte
// and an id.
var ErrNotFramed = errors.New("serde: not in the Confluent wire format")

// AppendHeader appends the magic byte and id to dst.
func AppendHeader(dst []byte, id int) []byte {
	dst = append(dst, Magic)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// ParseHeader splits a framed message into its schema id and payload.
func ParseHeader(b []byte) (id int, payload []byte, err error) {
	if len(b) < 5 || b[0] != Magic {
		return 0, nil, ErrNotFramed
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}

// AppendMessageIndexes appends Protobuf message indexes as Confluent frames
// them after the id: the count then each index, as zig-zag varints, with
// the common [0] (first message of the file) written as a single 0.
func AppendMessageIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 0 || (len(indexes) == 1 && indexes[0] == 0) {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// ParseMessageIndexes reads Protobuf message indexes from the start of b
// (after the header) and returns them and the rest.
func ParseMessageIndexes(b []byte) (indexes []int, rest []byte, err error) {
	n, sz := binary.Varint(b)
	if sz <= 0 {
		return nil, nil, fmt.Errorf("serde: bad message index count")
	}
	b = b[sz:]
	if n == 0 {
		return []int{0}, b, nil
	}
	if n < 0 || n > int64(len(b)) {
		return nil, nil, fmt.Errorf("serde: bad message index count %d", n)
	}
	indexes = make([]int, 0, n)
	for range n {
		v, sz := binary.Varint(b)
		if sz <= 0 {
			return nil, nil, fmt.Errorf("serde: truncated message indexes")
		}
		indexes = append(indexes, int(v))
		b = b[sz:]
	}
	return indexes, b, nil
}
