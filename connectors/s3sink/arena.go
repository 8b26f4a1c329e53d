package s3sink

// arena hands out the bytes of encoded records from large shared chunks,
// so buffering a record allocates nothing of its own. Handed-out bytes are
// never written again; a chunk goes to the garbage collector once no
// buffered or uploading record refers to it. Not safe for concurrent use
// (the task uses it under its lock).
type arena struct{ buf []byte }

const (
	arenaChunk = 1 << 20  // bytes per chunk
	arenaSpare = 16 << 10 // a new chunk starts when less than this is left
)

// free returns an empty slice whose capacity is the rest of the chunk.
func (a *arena) free() []byte {
	if cap(a.buf)-len(a.buf) < arenaSpare {
		a.buf = make([]byte, 0, arenaChunk)
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// keep takes b, the result of appending to what free returned, and returns
// it capped so that later appends cannot touch it. When b outgrew the
// chunk (or is some other slice) it is already a slice of its own.
func (a *arena) keep(b []byte) []byte {
	n := len(a.buf)
	if len(b) > 0 && cap(a.buf)-n >= len(b) && &a.buf[n : n+1][0] == &b[0] {
		a.buf = a.buf[:n+len(b)]
	}
	return b[:len(b):len(b)]
}
