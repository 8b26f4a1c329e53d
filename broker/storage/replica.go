package storage

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/record"
)

// AppendReplicated appends batches copied from a leader (a follower's
// fetch), keeping their offsets, leader epochs and timestamps, as Kafka's
// appendAsFollower does: each batch must pass the stored-batch checks
// (framing, magic, CRC) and start at or after the log end, in increasing
// order; producer state and the leader-epoch cache follow the batches; no
// sequence checks, no size limit beyond the frame. Nothing is appended if
// any batch fails. Offsets that do not follow the log end wrap
// kerr.InvalidRecord (truncate first, with TruncateTo).
func (l *Log) AppendReplicated(batches []byte) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	if len(batches) == 0 {
		return res, fmt.Errorf("%w: no record batches", kerr.CorruptMessage)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return res, fmt.Errorf("%w: %w", kerr.KafkaStorageError, ErrClosed)
	}
	act := l.active()
	next := act.next
	res.BaseOffset = -1
	var maxTs int64 = -1
	var records int64
	for p := 0; p < len(batches); {
		n, err := record.NextSize(batches[p:])
		if err != nil {
			return res, err
		}
		h, err := record.CheckStored(batches[p : p+n])
		if err != nil {
			return res, err
		}
		if h.BaseOffset < next {
			return res, fmt.Errorf("%w: replicated batch at offset %d but the log ends at %d", kerr.InvalidRecord, h.BaseOffset, next)
		}
		if res.BaseOffset < 0 {
			res.BaseOffset = h.BaseOffset
		}
		next = h.LastOffset() + 1
		maxTs = max(maxTs, h.MaxTimestamp)
		records += int64(h.NumRecords)
		p += n
	}
	res.LastOffset = next - 1
	nowMs := l.nowMs()
	cfg := l.Config()
	if l.shouldRoll(act, &cfg, int64(len(batches)), maxTs, nowMs) || next-1-act.base > 1<<31-1 {
		if err := l.roll(nowMs); err != nil {
			return res, storageErr(err)
		}
		act = l.active()
	}
	// Epochs first, as for leader appends.
	epochsChanged := false
	l.mu.Lock()
	for p := 0; p < len(batches); {
		h, _ := record.ParseHeader(batches[p:])
		if l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) {
			epochsChanged = true
		}
		p += h.Size()
	}
	l.mu.Unlock()
	if epochsChanged {
		if err := l.epochs.flush(); err != nil {
			return res, storageErr(err)
		}
	}
	pos := act.size
	if _, err := act.f.WriteAt(batches, pos); err != nil {
		if terr := act.f.Truncate(pos); terr != nil {
			l.mu.Lock()
			l.closed = true
			l.mu.Unlock()
		}
		return res, storageErr(err)
	}
	l.mu.Lock()
	interval := cfg.IndexIntervalBytes
	for p := 0; p < len(batches); {
		h, _ := record.ParseHeader(batches[p:])
		act.onAppend(&h, pos+int64(p), interval)
		l.producers.replay(&h)
		p += h.Size()
	}
	res.LogStartOffset = l.logStart
	l.notifyLocked()
	l.mu.Unlock()
	l.unflushed += records
	if l.unflushed >= cfg.FlushMessages {
		if err := l.flushLocked(false); err != nil {
			return res, storageErr(err)
		}
	}
	return res, nil
}

// TruncateTo removes everything at and after offset, as a follower does
// when its log diverges from the leader's. The cut is on a batch boundary:
// the batch containing offset goes too, as in Kafka's LogSegment.truncateTo.
// Below the log start the log is emptied and restarts at offset. The high
// watermark, epoch cache, producer state and cleaner progress follow.
func (l *Log) TruncateTo(offset int64) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return fmt.Errorf("%w: %w", kerr.KafkaStorageError, ErrClosed)
	}
	if offset < 0 {
		return fmt.Errorf("%w: truncation to %d", kerr.OffsetOutOfRange, offset)
	}
	if offset >= l.LogEndOffset() {
		return nil
	}
	if err := storageErr(l.truncateLocked(offset)); err != nil {
		return err
	}
	// Producer state: rebuild from snapshots at or below the new end.
	l.producers = newProducerState()
	return storageErr(l.loadProducers(l.listSnapshots(), l.LogEndOffset()))
}

func (l *Log) truncateLocked(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []*segment
	if offset < l.logStart || offset <= l.segs[0].base {
		for _, s := range l.segs {
			s.f.Close()
			s.removeFiles()
		}
		s, err := createSegment(l.dir, offset, l.nowMs())
		if err != nil {
			l.closed = true // no segment left to serve from
			return err
		}
		l.segs = []*segment{s}
		l.logStart = offset
	} else {
		i := l.segIndex(offset)
		gone = append(gone, l.segs[i+1:]...)
		l.segs = l.segs[:i+1]
		s := l.segs[i]
		pos, _, err := s.find(offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err == nil {
			if err := s.truncateTo(pos); err != nil {
				return err
			}
			if _, err := s.rebuild(); err != nil {
				return err
			}
			if err := s.writeIndexes(true); err != nil {
				return err
			}
		}
	}
	for _, s := range gone {
		s.f.Close()
		s.removeFiles()
	}
	leo := l.leoLocked()
	for _, off := range l.listSnapshots() {
		if off > leo {
			os.Remove(segmentName(l.dir, off, snapshotSuffix))
		}
	}
	l.hw = min(l.hw, leo)
	l.recovery = min(l.recovery, leo)
	l.cleaner.firstDirty = min(l.cleaner.firstDirty, leo)
	l.notifyLocked()
	if l.epochs.truncateFromEnd(leo) {
		if err := l.epochs.flush(); err != nil {
			return err
		}
	}
	return syncDir(l.dir)
}
