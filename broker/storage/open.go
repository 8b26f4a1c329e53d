package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/broker/record"
)

const checkpointName = "partition.checkpoint"

// cleanerCheckpoint is the compaction progress: offsets below firstDirty are
// clean, and the earliest tombstone delete horizon still pending (0 = none).
type cleanerCheckpoint struct {
	firstDirty    int64
	deleteHorizon int64
}

// openLog opens or creates the log in dir, recovering it if it was not shut
// down cleanly.
func openLog(dir string, tp TopicPartition, cfg LogConfig, logger *slog.Logger, now func() time.Time) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, storageErr(err)
	}
	l := &Log{
		dir: dir, tp: tp, logger: logger.With("partition", fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)),
		now: now, cfg: cfg.normalized(), changed: make(chan struct{}), producers: newProducerState(),
	}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.f.Close()
		}
		return nil, storageErr(err)
	}
	l.lastFlush = now()
	return l, nil
}

func (l *Log) load() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var swaps []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), swapSuffix) {
			swaps = append(swaps, e.Name())
		}
	}
	if len(swaps) > 0 {
		// A compaction committed a swap and died before finishing it.
		if err := recoverSwaps(l.dir, swaps); err != nil {
			return err
		}
		if entries, err = os.ReadDir(l.dir); err != nil {
			return err
		}
	}
	clean := false
	var bases []int64
	var snaps []int64
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == cleanShutdownName:
			clean = true
		case strings.HasSuffix(name, cleanedSuffix) || strings.HasSuffix(name, ".tmp"):
			// An interrupted cleaning or checkpoint write: the originals are intact.
			os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, logSuffix):
			if b, ok := parseBase(name, logSuffix); ok {
				bases = append(bases, b)
			}
		case strings.HasSuffix(name, snapshotSuffix):
			if b, ok := parseBase(name, snapshotSuffix); ok {
				snaps = append(snaps, b)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	sort.Slice(snaps, func(i, j int) bool { return snaps[i] < snaps[j] })
	if clean {
		// Remove the marker durably before anything else changes, so a crash
		// from here on is recovered.
		if err := os.Remove(cleanShutdownPath(l.dir)); err != nil {
			return err
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	ck := l.readCheckpoint()
	if l.epochs, err = loadEpochCache(l.dir); err != nil {
		l.logger.Warn("leader epoch checkpoint unreadable; starting empty", "err", err)
		l.epochs = &epochCache{path: filepath.Join(l.dir, epochCheckpointName)}
	}
	nowMs := l.nowMs()
	for i, base := range bases {
		s, err := openSegmentFile(l.dir, base, nowMs)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		last := i == len(bases)-1
		// Without a clean shutdown, everything from the segment holding the
		// recovery point on may be torn.
		needScan := !clean && (last || (i+1 < len(bases) && bases[i+1] > ck.recovery))
		if !needScan {
			if err := s.loadIndexes(); err == nil {
				continue
			} else {
				l.logger.Info("rebuilding index", "segment", base, "reason", err)
			}
		}
		if i > 0 && s.base < l.segs[i-1].next {
			// Overlaps the previous segment: not something we wrote. Keep the
			// log a clean prefix by dropping it and everything after.
			l.logger.Warn("dropping overlapping segments", "segment", base)
			s.f.Close()
			l.segs = l.segs[:i]
			for _, b := range bases[i:] {
				(&segment{dir: l.dir, base: b}).removeFiles()
			}
			break
		}
		valid, err := s.rebuild()
		if err != nil {
			return err
		}
		l.scanned++
		if valid < s.size {
			l.logger.Warn("truncating corrupt or torn log tail", "segment", base, "valid", valid, "size", s.size)
			if err := s.truncateTo(valid); err != nil {
				return err
			}
			// Everything after a damaged point is unreliable: drop later segments.
			for _, b := range bases[i+1:] {
				(&segment{dir: l.dir, base: b}).removeFiles()
			}
			break
		}
		if err := s.writeIndexes(false); err != nil {
			return err
		}
	}
	if len(l.segs) == 0 {
		start := max(ck.logStart, 0)
		s, err := createSegment(l.dir, start, nowMs)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	leo := l.leoLocked()
	l.logStart = min(max(ck.logStart, l.segs[0].base), leo)
	l.hw = min(max(ck.hw, l.logStart), leo)
	if clean {
		l.recovery = leo
	} else {
		l.recovery = min(ck.recovery, leo)
	}
	l.cleaner = cleanerCheckpoint{firstDirty: max(ck.firstDirty, l.logStart), deleteHorizon: ck.deleteHorizon}
	if l.epochs.truncateFromEnd(leo) || l.epochs.truncateFromStart(l.logStart) {
		if err := l.epochs.flush(); err != nil {
			return err
		}
	}
	return l.loadProducers(snaps, leo)
}

// rebuild scans the segment from the start, validating each batch (framing,
// CRC, offsets increasing), and rebuilds the in-memory indexes. It returns
// the byte length of the valid prefix.
func (s *segment) rebuild() (int64, error) {
	s.index, s.timeIndex = nil, nil
	s.indexWritten, s.timeWritten = 0, 0
	s.sinceIndex, s.maxTs, s.maxTsOffset, s.firstTs, s.next = 0, -1, -1, -1, s.base
	os.Remove(segmentName(s.dir, s.base, indexSuffix))
	os.Remove(segmentName(s.dir, s.base, timeIndexSuffix))
	size := s.size
	s.size = 0
	br := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, size), 1<<20)
	var buf []byte
	var pos int64
	for pos < size {
		var lenb [record.LogOverhead]byte
		if _, err := io.ReadFull(br, lenb[:]); err != nil {
			break
		}
		bl := int64(int32(binary.BigEndian.Uint32(lenb[8:])))
		if bl < record.HeaderSize-record.LogOverhead || pos+record.LogOverhead+bl > size {
			break
		}
		n := int(record.LogOverhead + bl)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		copy(buf, lenb[:])
		if _, err := io.ReadFull(br, buf[record.LogOverhead:]); err != nil {
			break
		}
		h, err := record.CheckStored(buf)
		if err != nil || h.BaseOffset < s.next || h.LastOffset()-s.base > 1<<31-1 {
			break
		}
		s.onAppend(&h, pos, indexIntervalForRebuild)
		pos += int64(n)
	}
	s.size = pos
	return pos, nil
}

// indexIntervalForRebuild is the index density used when rebuilding; the
// topic's index.interval.bytes may differ, which only changes how sparse
// the index is.
const indexIntervalForRebuild = 4096

func (s *segment) truncateTo(size int64) error {
	if err := s.f.Truncate(size); err != nil {
		return err
	}
	s.size = size
	return s.f.Sync()
}

type checkpoint struct {
	logStart, hw, recovery    int64
	firstDirty, deleteHorizon int64
}

// readCheckpoint reads partition.checkpoint ("key value" lines); missing or
// unreadable values are zero, which recovery treats conservatively.
func (l *Log) readCheckpoint() checkpoint {
	var ck checkpoint
	b, err := os.ReadFile(filepath.Join(l.dir, checkpointName))
	if err != nil {
		return ck
	}
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "log-start-offset":
			ck.logStart = v
		case "high-watermark":
			ck.hw = v
		case "recovery-point":
			ck.recovery = v
		case "cleaner-first-dirty":
			ck.firstDirty = v
		case "cleaner-delete-horizon":
			ck.deleteHorizon = v
		}
	}
	return ck
}

// writeCheckpoint persists log start, high watermark, recovery point and
// cleaner progress. Caller holds appendMu.
func (l *Log) writeCheckpoint() error {
	l.mu.RLock()
	s := fmt.Sprintf("log-start-offset %d\nhigh-watermark %d\nrecovery-point %d\ncleaner-first-dirty %d\ncleaner-delete-horizon %d\n",
		l.logStart, l.hw, l.recovery, l.cleaner.firstDirty, l.cleaner.deleteHorizon)
	l.mu.RUnlock()
	return writeFileAtomic(l.dir, filepath.Join(l.dir, checkpointName), []byte(s))
}

// writeSnapshot writes the producer state as of offset off and removes all
// but the two newest snapshots. Caller holds appendMu.
func (l *Log) writeSnapshot(off int64) error {
	if err := writeFileAtomic(l.dir, segmentName(l.dir, off, snapshotSuffix), l.producers.encode()); err != nil {
		return err
	}
	snaps := l.listSnapshots()
	for i := 0; i+2 < len(snaps); i++ {
		os.Remove(segmentName(l.dir, snaps[i], snapshotSuffix))
	}
	return nil
}

func (l *Log) listSnapshots() []int64 {
	entries, _ := os.ReadDir(l.dir)
	var out []int64
	for _, e := range entries {
		if b, ok := parseBase(e.Name(), snapshotSuffix); ok {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// loadProducers restores idempotent-producer state from the newest usable
// snapshot at or below the log end, then replays batch headers after it. With
// no snapshot it replays the whole log.
func (l *Log) loadProducers(snaps []int64, leo int64) error {
	from := l.logStart
	for i := len(snaps) - 1; i >= 0; i-- {
		off := snaps[i]
		path := segmentName(l.dir, off, snapshotSuffix)
		if off > leo {
			os.Remove(path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		ps, err := decodeProducerState(b)
		if err != nil {
			l.logger.Warn("ignoring damaged producer snapshot", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		l.producers = ps
		from = max(off, l.logStart)
		break
	}
	return l.scanHeaders(from, leo, l.producers.replay)
}

// scanHeaders calls fn for the header of every batch with offsets in
// [from, to), reading the segments sequentially.
func (l *Log) scanHeaders(from, to int64, fn func(h *record.Header)) error {
	if from >= to {
		return nil
	}
	for i := l.segIndex(from); i < len(l.segs); i++ {
		s := l.segs[i]
		pos, _, err := s.find(from)
		if errors.Is(err, io.EOF) {
			continue
		}
		if err != nil {
			return err
		}
		br := bufio.NewReaderSize(io.NewSectionReader(s.f, pos, s.size-pos), 256<<10)
		var hb [record.HeaderSize]byte
		for {
			if _, err := io.ReadFull(br, hb[:]); err != nil {
				break
			}
			h, err := record.ParseHeader(hb[:])
			if err != nil {
				return err
			}
			if h.BaseOffset >= to {
				return nil
			}
			fn(&h)
			if _, err := br.Discard(h.Size() - record.HeaderSize); err != nil {
				break
			}
		}
	}
	return nil
}
