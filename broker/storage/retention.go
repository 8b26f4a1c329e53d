package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/record"
)

// Special timestamps of ListOffsets.
const (
	LatestTimestamp        = -1
	EarliestTimestamp      = -2
	MaxTimestamp           = -3
	EarliestLocalTimestamp = -4
)

// ListOffset answers ListOffsets for one partition: -1 latest (the high
// watermark), -2 earliest (log start; -4 likewise, there is no tiering), -3
// the record with the largest timestamp, else the first record with a
// timestamp >= timestamp. (-1, -1, nil) means no such record below the high
// watermark.
func (l *Log) ListOffset(timestamp int64) (offset, ts int64, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return -1, -1, fmt.Errorf("%w: %w", kerr.KafkaStorageError, ErrClosed)
	}
	switch {
	case timestamp == LatestTimestamp:
		return l.hw, -1, nil
	case timestamp == EarliestTimestamp || timestamp == EarliestLocalTimestamp:
		return l.logStart, -1, nil
	case timestamp == MaxTimestamp:
		var best *segment
		for _, s := range l.segs {
			if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
				best = s
			}
		}
		if best == nil {
			return -1, -1, nil
		}
		off, ts, err := l.findRecordByTime(best, best.maxTsOffset, best.maxTs, true)
		if err != nil || off < 0 || off >= l.hw {
			return -1, -1, storageErr(err)
		}
		return off, ts, nil
	case timestamp < 0:
		return -1, -1, fmt.Errorf("%w: unknown special timestamp %d", kerr.InvalidRequest, timestamp)
	}
	for _, s := range l.segs {
		if s.maxTs < timestamp || s.next <= l.logStart {
			continue
		}
		off, ts, err := l.findRecordByTime(s, max(s.lookupTime(timestamp), l.logStart), timestamp, false)
		if err != nil {
			return -1, -1, storageErr(err)
		}
		if off >= 0 {
			if off >= l.hw {
				return -1, -1, nil
			}
			return off, ts, nil
		}
	}
	return -1, -1, nil
}

// findRecordByTime scans s from the batch holding offset from for the first
// record at or after from with timestamp >= target (== target if exact).
func (l *Log) findRecordByTime(s *segment, from, target int64, exact bool) (int64, int64, error) {
	pos, h, err := s.find(from)
	var hb [record.HeaderSize]byte
	for err == nil {
		if h.MaxTimestamp >= target {
			buf := make([]byte, h.Size())
			if _, err := s.f.ReadAt(buf, pos); err != nil {
				return -1, -1, err
			}
			it, err := record.NewIter(buf)
			if err != nil {
				return -1, -1, err
			}
			var r record.Record
			for it.Next(&r) {
				off := h.BaseOffset + int64(r.OffsetDelta)
				ts := h.FirstTimestamp + r.TimestampDelta
				if h.LogAppendTime() {
					ts = h.MaxTimestamp
				}
				if off >= from && (ts == target || (!exact && ts > target)) {
					return off, ts, nil
				}
			}
			if err := it.Err(); err != nil {
				return -1, -1, err
			}
		}
		pos += int64(h.Size())
		h, err = s.readHeader(pos, hb[:])
	}
	if errors.Is(err, io.EOF) {
		return -1, -1, nil
	}
	return -1, -1, err
}

// DeleteRecords advances the log start offset to before (-1 = the high
// watermark), as Kafka's DeleteRecords does, and deletes segments wholly
// below it. before above the high watermark is OFFSET_OUT_OF_RANGE.
func (l *Log) DeleteRecords(before int64) (int64, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return -1, fmt.Errorf("%w: %w", kerr.KafkaStorageError, ErrClosed)
	}
	l.mu.Lock()
	if before == -1 {
		before = l.hw
	}
	if before < 0 || before > l.hw {
		hw := l.hw
		l.mu.Unlock()
		return -1, fmt.Errorf("%w: cannot move the log start offset to %d, above the high watermark %d", kerr.OffsetOutOfRange, before, hw)
	}
	if before <= l.logStart {
		ls := l.logStart
		l.mu.Unlock()
		return ls, nil
	}
	l.logStart = before
	l.mu.Unlock()
	if err := l.afterLogStartMoved(); err != nil {
		return -1, storageErr(err)
	}
	return before, nil
}

// afterLogStartMoved deletes segments below the log start, trims the epoch
// cache and producer state, and checkpoints. Caller holds appendMu.
func (l *Log) afterLogStartMoved() error {
	var gone []*segment
	l.mu.Lock()
	for len(l.segs) > 1 && l.segs[1].base <= l.logStart {
		gone = append(gone, l.segs[0])
		l.segs = l.segs[1:]
	}
	changed := l.epochs.truncateFromStart(l.logStart)
	l.cleaner.firstDirty = max(l.cleaner.firstDirty, l.logStart)
	l.notifyLocked()
	l.mu.Unlock()
	l.producers.truncateBefore(l.logStart)
	// Checkpoint before deleting files, so a crash cannot leave the log start
	// below the first segment's data.
	if err := l.writeCheckpoint(); err != nil {
		return err
	}
	for _, s := range gone {
		s.f.Close()
		s.removeFiles()
	}
	if changed {
		return l.epochs.flush()
	}
	return nil
}

// ApplyRetention deletes whole segments, never the active one and never at
// or above the high watermark, that are past retention.ms (by their largest
// timestamp), beyond retention.bytes (oldest first), or wholly below the log
// start offset. It is a no-op for policy compact alone except for the last.
func (l *Log) ApplyRetention(now time.Time) (deletedSegments int, err error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return 0, nil
	}
	l.mu.Lock()
	cfg := l.cfg
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	nowMs := now.UnixMilli()
	n := 0
	for n < len(l.segs)-1 {
		s, next := l.segs[n], l.segs[n+1]
		if next.base > l.hw {
			break
		}
		belowStart := next.base <= l.logStart
		byTime := cfg.delete() && cfg.RetentionMs >= 0 && nowMs-segmentTime(s) > cfg.RetentionMs
		bySize := cfg.delete() && cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes
		if !belowStart && !byTime && !bySize {
			break
		}
		total -= s.size
		n++
	}
	if n == 0 {
		l.mu.Unlock()
		return 0, nil
	}
	l.logStart = max(l.logStart, l.segs[n].base)
	l.mu.Unlock()
	return n, storageErr(l.afterLogStartMoved())
}

// segmentTime is the segment's largest timestamp, or its file's modification
// time if it has no timestamps, as Kafka uses for retention.ms.
func segmentTime(s *segment) int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	if st, err := os.Stat(segmentName(s.dir, s.base, logSuffix)); err == nil {
		return st.ModTime().UnixMilli()
	}
	return s.created
}

// Checkpoint persists log start, high watermark, recovery point and cleaner
// progress (Manager.Run calls it every minute; Close always does).
func (l *Log) Checkpoint() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return nil
	}
	return storageErr(l.writeCheckpoint())
}
