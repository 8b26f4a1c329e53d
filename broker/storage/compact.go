package storage

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/broker/codec"
	"github.com/sluicehq/sluice/broker/record"
)

// CompactStats reports one cleaning pass.
type CompactStats struct {
	Cleaned           bool    // false if nothing was eligible
	DirtyRatio        float64 // of the cleanable range before cleaning
	Segments          int     // segments rewritten
	RecordsRemoved    int64
	TombstonesRemoved int64
	BytesBefore       int64
	BytesAfter        int64
}

// Compact runs one cleaning pass if cleanup.policy includes compact, as
// Kafka's log cleaner does: the cleanable range is every segment wholly below
// the first uncleanable offset (the active segment, the high watermark, and
// the first segment younger than min.compaction.lag.ms); it is cleaned when
// its dirty share reaches min.cleanable.dirty.ratio or a tombstone delete
// horizon has passed. The newest record of each key in the dirty part wins;
// older ones are dropped everywhere below it. Offsets never change. Each
// segment is rewritten to a .cleaned file, fsynced and renamed over the
// original, so a crash leaves either the old or the new segment.
//
// Tombstones (null values) follow KIP-534: the first pass that keeps one
// stamps its batch with a delete horizon (now + delete.retention.ms, in the
// batch's base timestamp field with attribute bit 6); a pass after the
// horizon drops it. Batches of idempotent producers that are still among
// the producer's last five are kept, empty if need be, so producer state
// rebuilt from the log still detects duplicates. Control batches are kept.
func (l *Log) Compact(now time.Time) (CompactStats, error) {
	var st CompactStats
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()

	l.mu.RLock()
	cfg := l.cfg
	closed := l.closed
	nowMs := now.UnixMilli()
	uncleanable := min(l.active().base, l.hw)
	var segs []*segment
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.next > uncleanable || (cfg.MinCompactionLagMs > 0 && s.maxTs > nowMs-cfg.MinCompactionLagMs) {
			break
		}
		segs = append(segs, s)
	}
	firstDirty := max(l.cleaner.firstDirty, l.logStart)
	horizon := l.cleaner.deleteHorizon
	l.mu.RUnlock()
	if closed || !cfg.compact() || len(segs) == 0 {
		return st, nil
	}
	var clean, dirty int64
	dirtyFrom := len(segs)
	for i, s := range segs {
		if s.next > firstDirty {
			dirty += s.size
			dirtyFrom = min(dirtyFrom, i)
		} else {
			clean += s.size
		}
	}
	if clean+dirty > 0 {
		st.DirtyRatio = float64(dirty) / float64(clean+dirty)
	}
	horizonDue := horizon > 0 && nowMs >= horizon
	if !horizonDue && (dirty == 0 || st.DirtyRatio < cfg.MinCleanableDirtyRatio) {
		return st, nil
	}

	// Latest offset of every key in the dirty part.
	latest := make(map[string]int64)
	for _, s := range segs[min(dirtyFrom, len(segs)):] {
		err := eachBatch(s, func(b []byte, h *record.Header) error {
			if h.IsControl() {
				return nil
			}
			it, err := record.NewIter(b)
			if err != nil {
				return err
			}
			var r record.Record
			for it.Next(&r) {
				if r.Key != nil {
					latest[string(r.Key)] = h.BaseOffset + int64(r.OffsetDelta)
				}
			}
			return it.Err()
		})
		if err != nil {
			return st, storageErr(err)
		}
	}

	l.appendMu.Lock()
	producers := l.producers.clone()
	l.appendMu.Unlock()

	var nextHorizon int64
	for _, group := range groupSegments(segs, cfg.SegmentBytes) {
		first := group[0]
		path := segmentName(l.dir, first.base, logSuffix+cleanedSuffix)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return st, storageErr(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		changed := len(group) > 1 // merging is a change in itself
		for _, s := range group {
			st.BytesBefore += s.size
			err = eachBatch(s, func(b []byte, h *record.Header) error {
				out, hz, removed, tombs, err := cleanBatch(b, h, latest, producers, nowMs, cfg.DeleteRetentionMs)
				if err != nil {
					return err
				}
				if hz > 0 && (nextHorizon == 0 || hz < nextHorizon) {
					nextHorizon = hz
				}
				st.RecordsRemoved += removed
				st.TombstonesRemoved += tombs
				if len(out) == 0 || &out[0] != &b[0] {
					changed = true
				}
				_, err = w.Write(out)
				return err
			})
			if err != nil {
				break
			}
		}
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil || !changed {
			f.Close()
			os.Remove(path)
			if err != nil {
				return st, storageErr(err)
			}
			st.BytesAfter += first.size
			continue
		}
		if err := l.swapSegments(group, f, path); err != nil {
			return st, storageErr(err)
		}
		st.Segments += len(group)
		st.BytesAfter += first.size
	}
	st.Cleaned = true

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	l.cleaner.firstDirty = max(l.cleaner.firstDirty, segs[len(segs)-1].next)
	l.cleaner.deleteHorizon = nextHorizon
	l.mu.Unlock()
	return st, storageErr(l.writeCheckpoint())
}

// cleanBatch returns the batch to keep (b itself if unchanged, nil to drop
// it), the delete horizon it now carries if it holds tombstones, and counts
// of removed records and tombstones.
func cleanBatch(b []byte, h *record.Header, latest map[string]int64, ps *producerState, nowMs, deleteRetention int64) (out []byte, horizon, removed, tombs int64, err error) {
	if h.IsControl() {
		return b, 0, 0, 0, nil
	}
	_, recs, err := record.Records(b)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	hasHorizon := h.HasDeleteHorizon()
	horizonPassed := hasHorizon && nowMs >= h.FirstTimestamp
	kept := recs[:0:0]
	keptTombstone := false
	for _, r := range recs {
		off := h.BaseOffset + int64(r.OffsetDelta)
		if r.Key == nil {
			removed++ // Kafka's cleaner drops keyless records
			continue
		}
		if l, ok := latest[string(r.Key)]; ok && off < l {
			removed++
			continue
		}
		if r.Value == nil {
			if horizonPassed {
				removed++
				tombs++
				continue
			}
			keptTombstone = true
		}
		kept = append(kept, r)
	}
	needHorizon := keptTombstone && !hasHorizon
	if removed == 0 && !needHorizon {
		if keptTombstone {
			horizon = h.FirstTimestamp
		}
		return b, horizon, 0, 0, nil
	}
	if len(kept) == 0 {
		if h.HasProducerID() && ps.retained(h.ProducerID, h.BaseOffset) {
			nh := *h
			nh.Attributes &^= record.AttrDeleteHorizon
			out, err := record.Encode(nh, nil, codec.None)
			return out, 0, removed, tombs, err
		}
		return nil, 0, removed, tombs, nil
	}
	nh := *h
	if keptTombstone {
		newBase := h.FirstTimestamp
		if needHorizon {
			newBase = nowMs + deleteRetention
		}
		// Record timestamps are deltas from the base timestamp, so moving it
		// to the horizon means re-basing them.
		for i := range kept {
			kept[i].TimestampDelta = h.FirstTimestamp + kept[i].TimestampDelta - newBase
		}
		nh.FirstTimestamp = newBase
		nh.Attributes |= record.AttrDeleteHorizon
		horizon = newBase
	} else if hasHorizon {
		// No tombstones left: give the base timestamp back to the records.
		first := h.FirstTimestamp + kept[0].TimestampDelta
		for i := range kept {
			kept[i].TimestampDelta = h.FirstTimestamp + kept[i].TimestampDelta - first
		}
		nh.FirstTimestamp = first
		nh.Attributes &^= record.AttrDeleteHorizon
	}
	out, err = record.Encode(nh, kept, h.Codec())
	return out, horizon, removed, tombs, err
}

// eachBatch calls fn with every batch of a non-active segment in order.
func eachBatch(s *segment, fn func(b []byte, h *record.Header) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, s.size), 1<<20)
	var buf []byte
	for {
		var hb [record.HeaderSize]byte
		if _, err := io.ReadFull(br, hb[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("segment %d: %w", s.base, err)
		}
		h, err := record.ParseHeader(hb[:])
		if err != nil {
			return err
		}
		n := h.Size()
		if n < record.HeaderSize {
			return fmt.Errorf("segment %d: bad batch length", s.base)
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		copy(buf, hb[:])
		if _, err := io.ReadFull(br, buf[record.HeaderSize:]); err != nil {
			return fmt.Errorf("segment %d: %w", s.base, err)
		}
		if err := fn(buf, &h); err != nil {
			return err
		}
	}
}

// groupSegments splits segments into runs that are cleaned into one
// segment each, as Kafka's cleaner groups them: the original sizes of a run
// add up to at most segment.bytes and its offsets fit the 32-bit relative
// offsets of the index. Small segments left by earlier passes so merge.
func groupSegments(segs []*segment, maxBytes int64) [][]*segment {
	var groups [][]*segment
	for i := 0; i < len(segs); {
		j, size := i+1, segs[i].size
		for j < len(segs) && size+segs[j].size <= maxBytes && segs[j].next-1-segs[i].base <= 1<<31-1 {
			size += segs[j].size
			j++
		}
		groups = append(groups, segs[i:j])
		i = j
	}
	return groups
}

// swapName is the name of a cleaned segment that replaces every segment with
// base offsets in [first, end): the commit point of a swap.
func swapName(dir string, first, end int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d-%020d%s", first, end, swapSuffix))
}

// testHookSwap, if set, runs after a swap is committed and may abort it
// there, as a crash would.
var testHookSwap func() error

// swapSegments replaces the segments of group with the cleaned file at
// path, crash-safely: rename it to <first>-<end>.swap (the commit point,
// completed by open if we crash after it), remove the old segments and
// their indexes, rename the swap over <first>.log, and rebuild the indexes.
func (l *Log) swapSegments(group []*segment, f *os.File, path string) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	first := group[0]
	end := group[len(group)-1].next
	swap := swapName(l.dir, first.base, end)
	if err := os.Rename(path, swap); err != nil {
		f.Close()
		return err
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return err
	}
	if testHookSwap != nil {
		if err := testHookSwap(); err != nil {
			f.Close()
			return err
		}
	}
	for _, s := range group {
		os.Remove(segmentName(l.dir, s.base, indexSuffix))
		os.Remove(segmentName(l.dir, s.base, timeIndexSuffix))
		if s != first {
			s.f.Close()
			os.Remove(segmentName(l.dir, s.base, logSuffix))
		}
	}
	if err := completeSwap(l.dir, swap, first.base); err != nil {
		f.Close()
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	old := first.f
	first.f, first.size = f, st.Size()
	old.Close()
	// Drop the merged segments from the list.
	i := 0
	for i < len(l.segs) && l.segs[i] != first {
		i++
	}
	l.segs = append(l.segs[:i+1], l.segs[i+len(group):]...)
	if _, err := first.rebuild(); err != nil {
		return err
	}
	first.next = max(first.next, end) // the offset range stays the group's
	return first.writeIndexes(true)
}

// completeSwap renames a committed swap file over <first>.log and syncs the
// directory.
func completeSwap(dir, swap string, first int64) error {
	if err := syncDir(dir); err != nil { // the removals before the rename
		return err
	}
	if err := os.Rename(swap, segmentName(dir, first, logSuffix)); err != nil {
		return err
	}
	return syncDir(dir)
}

// recoverSwaps finishes swaps that were committed when the process died:
// segments in the swapped range are removed and the swap becomes the
// segment's .log.
func recoverSwaps(dir string, names []string) error {
	for _, name := range names {
		s, ok := strings.CutSuffix(name, swapSuffix)
		if !ok || len(s) != 41 || s[20] != '-' {
			continue
		}
		first, err1 := strconv.ParseInt(s[:20], 10, 64)
		end, err2 := strconv.ParseInt(s[21:], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if b, ok := parseBase(e.Name(), suf); ok && b >= first && b < end {
					if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
						return err
					}
				}
			}
		}
		if err := completeSwap(dir, filepath.Join(dir, name), first); err != nil {
			return err
		}
	}
	return nil
}
