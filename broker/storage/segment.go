package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/broker/record"
)

// File suffixes inside a partition directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
	snapshotSuffix  = ".snapshot"
)

func segmentName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// parseBase reads the base offset from a name like 00000000000000000042.log.
func parseBase(name, suffix string) (int64, bool) {
	s, ok := strings.CutSuffix(name, suffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// indexEntry maps an offset (relative to the segment base) to the file
// position of the batch that starts there. Kafka's .index layout: 4-byte
// relative offset, 4-byte position, big endian.
type indexEntry struct {
	rel uint32
	pos uint32
}

// timeEntry is a .timeindex entry: the largest timestamp seen so far in the
// segment and the relative base offset of the batch that raised it (8+4
// bytes, Kafka's layout).
type timeEntry struct {
	ts  int64
	rel uint32
}

// segment is one .log file and its indexes. Index entries live in memory and
// are written to disk on flush, roll and close; the files are only a cache
// that recovery rebuilds, so they need no fsync ordering against the log.
type segment struct {
	dir  string
	base int64
	f    *os.File
	size int64 // bytes of whole batches in the file

	next int64 // offset after the last batch (base if empty)

	index        []indexEntry
	timeIndex    []timeEntry
	indexWritten int // entries of index already on disk
	timeWritten  int
	sinceIndex   int64 // bytes appended since the last index entry

	maxTs       int64 // largest batch MaxTimestamp, -1 if none
	maxTsOffset int64 // base offset of the batch holding maxTs
	firstTs     int64 // MaxTimestamp of the first batch (segment.ms), -1 if none
	created     int64 // ms when created or opened, fallback for segment.ms
}

func createSegment(dir string, base int64, nowMs int64) (*segment, error) {
	f, err := os.OpenFile(segmentName(dir, base, logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	// Stale index files of an earlier segment with this base would confuse recovery.
	os.Remove(segmentName(dir, base, indexSuffix))
	os.Remove(segmentName(dir, base, timeIndexSuffix))
	return &segment{dir: dir, base: base, f: f, next: base, maxTs: -1, maxTsOffset: -1, firstTs: -1, created: nowMs}, nil
}

func openSegmentFile(dir string, base int64, nowMs int64) (*segment, error) {
	f, err := os.OpenFile(segmentName(dir, base, logSuffix), os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &segment{dir: dir, base: base, f: f, size: st.Size(), next: base, maxTs: -1, maxTsOffset: -1, firstTs: -1, created: nowMs}, nil
}

// onAppend records a batch written at pos in the in-memory indexes.
func (s *segment) onAppend(h *record.Header, pos int64, interval int32) {
	size := int64(h.Size())
	if s.firstTs < 0 {
		s.firstTs = h.MaxTimestamp
	}
	raised := h.MaxTimestamp > s.maxTs
	if raised {
		s.maxTs = h.MaxTimestamp
		s.maxTsOffset = h.BaseOffset
	}
	if len(s.index) == 0 || s.sinceIndex >= int64(interval) {
		s.index = append(s.index, indexEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		if len(s.timeIndex) == 0 || s.maxTs > s.timeIndex[len(s.timeIndex)-1].ts {
			s.timeIndex = append(s.timeIndex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOffset - s.base)})
		}
		s.sinceIndex = 0
	}
	s.sinceIndex += size
	s.size = pos + size
	s.next = h.LastOffset() + 1
}

// lookup returns the file position to start scanning from for offset: that
// of the last indexed batch whose base offset is <= offset.
func (s *segment) lookup(offset int64) int64 {
	rel := offset - s.base
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(s.index[i-1].pos)
}

// lookupTime returns the offset to start scanning from for a timestamp: that
// of the last time-index entry below ts (strictly, so ties are not skipped).
func (s *segment) lookupTime(ts int64) int64 {
	i := sort.Search(len(s.timeIndex), func(i int) bool { return s.timeIndex[i].ts >= ts })
	if i == 0 {
		return s.base
	}
	return s.base + int64(s.timeIndex[i-1].rel)
}

// readHeader reads the batch header at pos. It returns io.EOF at the end of
// the segment's whole batches.
func (s *segment) readHeader(pos int64, buf []byte) (record.Header, error) {
	if pos >= s.size {
		return record.Header{}, io.EOF
	}
	if pos+record.HeaderSize > s.size {
		return record.Header{}, fmt.Errorf("segment %d: partial header at %d", s.base, pos)
	}
	if _, err := s.f.ReadAt(buf[:record.HeaderSize], pos); err != nil {
		return record.Header{}, err
	}
	h, err := record.ParseHeader(buf)
	if err == nil && (h.BatchLength < record.HeaderSize-record.LogOverhead || pos+int64(h.Size()) > s.size) {
		err = fmt.Errorf("segment %d: bad batch length %d at %d", s.base, h.BatchLength, pos)
	}
	return h, err
}

// find returns the position of the first batch whose last offset is >=
// offset, or io.EOF if there is none in this segment.
func (s *segment) find(offset int64) (int64, record.Header, error) {
	var buf [record.HeaderSize]byte
	pos := s.lookup(offset)
	for {
		h, err := s.readHeader(pos, buf[:])
		if err != nil {
			return 0, h, err
		}
		if h.LastOffset() >= offset {
			return pos, h, nil
		}
		pos += int64(h.Size())
	}
}

// writeIndexes appends index entries not yet on disk to the index files.
func (s *segment) writeIndexes(sync bool) error {
	if err := appendEntries(segmentName(s.dir, s.base, indexSuffix), s.indexWritten, encodeIndex(s.index[s.indexWritten:]), sync); err != nil {
		return err
	}
	s.indexWritten = len(s.index)
	tes := s.timeIndex
	// Close out the time index with the segment's real maximum so that
	// retention and max-timestamp lookups after a reopen see it.
	if s.maxTs >= 0 && (len(tes) == 0 || tes[len(tes)-1].ts < s.maxTs) {
		s.timeIndex = append(s.timeIndex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOffset - s.base)})
	}
	if err := appendEntries(segmentName(s.dir, s.base, timeIndexSuffix), s.timeWritten*12, encodeTimeIndex(s.timeIndex[s.timeWritten:]), sync); err != nil {
		return err
	}
	s.timeWritten = len(s.timeIndex)
	return nil
}

// appendEntries writes b at offset at in the file (8-byte entries were counted
// by the caller), creating it if needed.
func appendEntries(path string, at int, b []byte, sync bool) error {
	if len(b) == 0 && !sync {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if strings.HasSuffix(path, indexSuffix) {
		at *= 8
	}
	if err := f.Truncate(int64(at)); err == nil && len(b) > 0 {
		_, err = f.WriteAt(b, int64(at))
		if err != nil {
			f.Close()
			return err
		}
	} else if err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func encodeIndex(es []indexEntry) []byte {
	b := make([]byte, 0, 8*len(es))
	for _, e := range es {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint32(b, e.pos)
	}
	return b
}

func encodeTimeIndex(es []timeEntry) []byte {
	b := make([]byte, 0, 12*len(es))
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
		b = binary.BigEndian.AppendUint32(b, e.rel)
	}
	return b
}

var errBadIndex = errors.New("index fails its sanity check")

// loadIndexes reads the index files and checks them as Kafka's sanityCheck
// does (sizes, monotonic entries, positions and offsets within the log),
// plus that the last offset-index entry points at a batch with that offset.
func (s *segment) loadIndexes() error {
	ib, err := os.ReadFile(segmentName(s.dir, s.base, indexSuffix))
	if err != nil {
		return err
	}
	tb, err := os.ReadFile(segmentName(s.dir, s.base, timeIndexSuffix))
	if err != nil {
		return err
	}
	if len(ib)%8 != 0 || len(tb)%12 != 0 || (s.size > 0 && (len(ib) == 0 || len(tb) == 0)) {
		return errBadIndex
	}
	idx := make([]indexEntry, len(ib)/8)
	for i := range idx {
		idx[i] = indexEntry{rel: binary.BigEndian.Uint32(ib[8*i:]), pos: binary.BigEndian.Uint32(ib[8*i+4:])}
		if int64(idx[i].pos) >= s.size || (i > 0 && (idx[i].rel <= idx[i-1].rel || idx[i].pos <= idx[i-1].pos)) || (i == 0 && idx[i].pos != 0) {
			return errBadIndex
		}
	}
	tix := make([]timeEntry, len(tb)/12)
	for i := range tix {
		tix[i] = timeEntry{ts: int64(binary.BigEndian.Uint64(tb[12*i:])), rel: binary.BigEndian.Uint32(tb[12*i+8:])}
		if i > 0 && (tix[i].ts < tix[i-1].ts || tix[i].rel < tix[i-1].rel) {
			return errBadIndex
		}
	}
	var buf [record.HeaderSize]byte
	// The last batch tells where the segment ends; find it from the last
	// index entry, which must point at a batch with the entry's offset.
	var last record.Header
	if len(idx) > 0 {
		e := idx[len(idx)-1]
		pos := int64(e.pos)
		h, err := s.readHeader(pos, buf[:])
		if err != nil || h.BaseOffset != s.base+int64(e.rel) {
			return errBadIndex
		}
		for {
			last = h
			pos += int64(h.Size())
			if pos == s.size {
				break
			}
			if h, err = s.readHeader(pos, buf[:]); err != nil {
				return errBadIndex
			}
		}
		s.next = last.LastOffset() + 1
		s.sinceIndex = s.size - int64(e.pos)
		s.firstTs = -1
		if h0, err := s.readHeader(0, buf[:]); err == nil {
			s.firstTs = h0.MaxTimestamp
		}
	}
	if len(tix) > 0 {
		e := tix[len(tix)-1]
		if s.base+int64(e.rel) >= s.next {
			return errBadIndex
		}
		s.maxTs, s.maxTsOffset = e.ts, s.base+int64(e.rel)
	}
	s.index, s.timeIndex = idx, tix
	s.indexWritten, s.timeWritten = len(idx), len(tix)
	return nil
}

func (s *segment) removeFiles() {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		os.Remove(segmentName(s.dir, s.base, suf))
	}
}
