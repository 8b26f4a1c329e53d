package kafka

import (
	"encoding/binary"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errCode maps an error to its Kafka error code.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// errMsg is the error's message for responses that carry one.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// countRecords sums the record counts of the batches in b.
func countRecords(b []byte) int {
	n := 0
	for len(b) >= 61 {
		size := int(int32(binary.BigEndian.Uint32(b[8:]))) + 12
		if size < 61 || size > len(b) {
			break
		}
		n += int(int32(binary.BigEndian.Uint32(b[57:])))
		b = b[size:]
	}
	return n
}
