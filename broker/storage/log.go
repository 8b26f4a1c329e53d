package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/record"
)

// Log is one partition's log. Appends are serialized by the Log's own lock;
// reads run in parallel with each other and with the write(2) of an append.
//
// Lock order: cleanMu, then appendMu, then mu. cleanMu keeps segments
// from being deleted or closed while the cleaner reads them unlocked. appendMu serializes everything that writes
// (append, roll, flush, truncation, retention, compaction swaps, close);
// mu guards the state readers see (segments, sizes, offsets, indexes).
type Log struct {
	dir    string
	tp     TopicPartition
	logger *slog.Logger
	now    func() time.Time

	cleanMu   sync.Mutex // one cleaning or retention pass at a time; before appendMu
	appendMu  sync.Mutex
	producers *producerState // appendMu
	unflushed int64          // appendMu: records since the last fsync
	staged    []stagedProducer
	lastFlush time.Time // appendMu

	mu        sync.RWMutex
	cfg       LogConfig
	segs      []*segment // by base offset; the last is the active segment
	logStart  int64
	hw        int64
	recovery  int64 // offsets below this are fsynced
	epochs    *epochCache
	changed   chan struct{}
	watched   atomic.Bool // someone holds changed: the next notify must close it
	closed    bool
	cleaner   cleanerCheckpoint
	onClose   func()
	removeDir bool
	scanned   int // segments scanned by recovery at open (tests)
}

type stagedProducer struct {
	id    int64
	entry producerEntry
	known bool
}

// AppendResult is the outcome of Append.
type AppendResult struct {
	BaseOffset, LastOffset int64
	LogAppendTime          int64 // -1 unless message.timestamp.type=LogAppendTime
	LogStartOffset         int64
	Duplicate              bool // idempotent retry of batches already in the log: offsets are the originals, nothing written
}

// ReadOptions bounds a Read.
type ReadOptions struct {
	MaxBytes    int32 // byte budget
	MinOneBatch bool  // return the first batch even if bigger than MaxBytes (KIP-74)
	UpTo        int64 // only batches whose offsets are below UpTo (e.g. the high watermark); <0 = log end
}

// ReadResult is the outcome of Read. Records are whole batches as stored.
type ReadResult struct {
	Records                                     []byte
	HighWatermark, LogStartOffset, LogEndOffset int64
}

// ErrClosed is returned (wrapping kerr.KafkaStorageError) by a closed Log.
var ErrClosed = errors.New("storage: log is closed")

func storageErr(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
}

func (l *Log) nowMs() int64 { return l.now().UnixMilli() }

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// Append takes one or more concatenated RecordBatches exactly as a producer
// sent them, validates all, checks idempotent-producer sequences, assigns
// offsets, stamps LogAppendTime if configured, and writes them with one
// write(2) before returning. The batches' headers are rewritten in place in
// the caller's slice (base offset, partition leader epoch, and for
// LogAppendTime the timestamp and CRC). Nothing is appended if any batch
// fails. Append does not move the high watermark: the caller (replication,
// or a single-replica produce path) calls SetHighWatermark.
func (l *Log) Append(batches []byte, leaderEpoch int32) (AppendResult, error) {
	l.mu.RLock()
	cfg := l.cfg
	l.mu.RUnlock()
	res := AppendResult{LogAppendTime: -1}
	if len(batches) == 0 {
		return res, fmt.Errorf("%w: no record batches", kerr.CorruptMessage)
	}
	var records, offsets int64
	var maxTs int64 = -1
	for p := 0; p < len(batches); {
		n, err := record.NextSize(batches[p:])
		if err != nil {
			return res, err
		}
		b := batches[p : p+n]
		h, err := record.Validate(b, cfg.MaxMessageBytes)
		if err != nil {
			return res, err
		}
		if cfg.compact() {
			if err := requireKeys(b); err != nil {
				return res, err
			}
		}
		records += int64(h.NumRecords)
		offsets += int64(h.LastOffsetDelta) + 1
		maxTs = max(maxTs, h.MaxTimestamp)
		p += n
	}

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return res, fmt.Errorf("%w: %w", kerr.KafkaStorageError, ErrClosed)
	}

	// Producer checks against staged copies, so that several batches of one
	// producer in a call see each other and nothing changes on failure.
	l.staged = l.staged[:0]
	for p := 0; p < len(batches); {
		h, _ := record.ParseHeader(batches[p:])
		p += h.Size()
		if !h.HasProducerID() {
			continue
		}
		sp := l.stage(h.ProducerID)
		var e *producerEntry
		if sp.known {
			e = &sp.entry
		}
		dup, err := check(e, &h)
		if err != nil {
			return res, err
		}
		if dup != nil {
			res.BaseOffset, res.LastOffset, res.Duplicate = dup.firstOffset, dup.lastOffset, true
			res.LogStartOffset = l.LogStartOffset()
			return res, nil
		}
		if !sp.known {
			sp.entry = producerEntry{epoch: h.ProducerEpoch}
			sp.known = true
		}
		// Offsets are filled in at apply time below; sequence checks only
		// need the sequences.
		apply(&sp.entry, &h)
	}

	nowMs := l.nowMs()
	act := l.active()
	// Roll also when relative offsets would not fit the 32-bit index.
	if l.shouldRoll(act, &cfg, int64(len(batches)), maxTs, nowMs) || act.next+offsets-1-act.base > math.MaxInt32 {
		if err := l.roll(nowMs); err != nil {
			return res, storageErr(err)
		}
		act = l.active()
	}

	next := act.next
	res.BaseOffset = next
	if cfg.logAppendTime() {
		res.LogAppendTime = nowMs
	}
	for p := 0; p < len(batches); {
		b := batches[p:]
		h, _ := record.ParseHeader(b)
		b = b[:h.Size()]
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, leaderEpoch)
		if cfg.logAppendTime() {
			record.SetLogAppendTime(b, nowMs)
		}
		next += int64(h.LastOffsetDelta) + 1
		p += len(b)
	}
	res.LastOffset = next - 1

	// A new leader epoch is checkpointed before the data, so recovery never
	// sees data of an epoch the cache lacks.
	if leaderEpoch > l.epochs.latest() {
		l.mu.Lock()
		l.epochs.assign(leaderEpoch, res.BaseOffset)
		l.mu.Unlock()
		if err := l.epochs.flush(); err != nil {
			return res, storageErr(err)
		}
	}

	pos := act.size
	if _, err := act.f.WriteAt(batches, pos); err != nil {
		// Take back a partial write so the file ends on a batch boundary.
		if terr := act.f.Truncate(pos); terr != nil {
			l.logger.Error("cannot truncate after failed write; closing log", "dir", l.dir, "err", terr)
			l.mu.Lock()
			l.closed = true
			l.mu.Unlock()
		}
		return res, storageErr(err)
	}

	l.mu.Lock()
	for p := 0; p < len(batches); {
		h, _ := record.ParseHeader(batches[p:])
		act.onAppend(&h, pos+int64(p), cfg.IndexIntervalBytes)
		if h.HasProducerID() {
			e := l.producers.m[h.ProducerID]
			if e == nil {
				e = &producerEntry{epoch: h.ProducerEpoch}
				l.producers.m[h.ProducerID] = e
			}
			apply(e, &h)
		}
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

func (l *Log) stage(id int64) *stagedProducer {
	for i := range l.staged {
		if l.staged[i].id == id {
			return &l.staged[i]
		}
	}
	sp := stagedProducer{id: id}
	if e := l.producers.m[id]; e != nil {
		sp.entry, sp.known = *e, true
	}
	l.staged = append(l.staged, sp)
	return &l.staged[len(l.staged)-1]
}

// requireKeys enforces Kafka's rule that compacted topics take only keyed records.
func requireKeys(b []byte) error {
	it, err := record.NewIter(b)
	if err != nil {
		return err
	}
	var r record.Record
	for it.Next(&r) {
		if r.Key == nil {
			return fmt.Errorf("%w: compacted topic cannot accept a record without a key", kerr.InvalidRecord)
		}
	}
	return it.Err()
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// notifyLocked wakes Changed waiters. A new channel is made only when the
// current one was handed out, so appends nobody waits for do not allocate.
func (l *Log) notifyLocked() {
	if l.watched.Swap(false) {
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// shouldRoll follows Kafka's LogSegment.shouldRoll: size, and age measured
// as Kafka does, from the segment's first batch timestamp to the incoming
// batches' largest timestamp (wall clock since creation if the segment has
// no timestamps).
func (l *Log) shouldRoll(s *segment, cfg *LogConfig, incoming, incomingTs, nowMs int64) bool {
	if s.size == 0 {
		return false
	}
	if s.size+incoming > cfg.SegmentBytes {
		return true
	}
	if s.firstTs >= 0 && incomingTs >= 0 {
		return incomingTs-s.firstTs > cfg.SegmentMs
	}
	return nowMs-s.created > cfg.SegmentMs
}

// roll fsyncs the active segment, writes its indexes, and starts a new one at
// the log end. Caller holds appendMu.
func (l *Log) roll(nowMs int64) error {
	old := l.active()
	if err := old.f.Sync(); err != nil {
		return err
	}
	l.mu.Lock()
	err := old.writeIndexes(true)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	ns, err := createSegment(l.dir, old.next, nowMs)
	if err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		ns.f.Close()
		return err
	}
	// A producer snapshot at each roll keeps recovery's replay to the
	// active segment.
	if err := l.writeSnapshot(old.next); err != nil {
		l.logger.Warn("producer snapshot failed", "dir", l.dir, "err", err)
	}
	l.mu.Lock()
	l.segs = append(l.segs, ns)
	l.recovery = max(l.recovery, old.next)
	l.mu.Unlock()
	l.unflushed = 0
	l.lastFlush = l.now()
	return nil
}

// Read returns whole batches starting with the one that contains offset, up
// to opts.MaxBytes (at least one batch if MinOneBatch), from one segment.
// Reading at the log end returns no records; outside [log start, log end]
// is OFFSET_OUT_OF_RANGE. The returned slice is the caller's.
func (l *Log) Read(offset int64, opts ReadOptions) (ReadResult, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	res := ReadResult{HighWatermark: l.hw, LogStartOffset: l.logStart, LogEndOffset: l.leoLocked()}
	if l.closed {
		return res, fmt.Errorf("%w: %w", kerr.KafkaStorageError, ErrClosed)
	}
	if offset < l.logStart || offset > res.LogEndOffset {
		return res, fmt.Errorf("%w: offset %d not in [%d, %d]", kerr.OffsetOutOfRange, offset, l.logStart, res.LogEndOffset)
	}
	upTo := opts.UpTo
	if upTo < 0 || upTo > res.LogEndOffset {
		upTo = res.LogEndOffset
	}
	if offset >= upTo {
		return res, nil
	}
	for i := l.segIndex(offset); i < len(l.segs); i++ {
		s := l.segs[i]
		pos, h, err := s.find(offset)
		if err != nil {
			if errors.Is(err, io.EOF) {
				continue
			}
			return res, storageErr(err)
		}
		if h.LastOffset() >= upTo {
			return res, nil
		}
		budget := int64(max(opts.MaxBytes, 0))
		if int64(h.Size()) > budget {
			if !opts.MinOneBatch {
				return res, nil
			}
			budget = int64(h.Size())
		}
		n := min(budget, s.size-pos)
		buf := make([]byte, n)
		if _, err := s.f.ReadAt(buf, pos); err != nil {
			return res, storageErr(err)
		}
		// Cut at the last whole batch below upTo.
		end := 0
		for end < len(buf) {
			sz, err := record.NextSize(buf[end:])
			if err != nil {
				break
			}
			bh, _ := record.ParseHeader(buf[end:])
			if bh.LastOffset() >= upTo {
				break
			}
			end += sz
		}
		res.Records = buf[:end]
		return res, nil
	}
	return res, nil
}

// segIndex returns the index of the segment that holds offset (the last with
// base <= offset). Caller holds mu.
func (l *Log) segIndex(offset int64) int {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })
	return max(i-1, 0)
}

func (l *Log) leoLocked() int64 { return l.active().next }

// HighWatermark is the offset below which records are committed.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// SetHighWatermark moves the high watermark, clamped to [log start, log end],
// and wakes waiters on Changed.
func (l *Log) SetHighWatermark(off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off = min(max(off, l.logStart), l.leoLocked())
	if off != l.hw {
		l.hw = off
		l.notifyLocked()
	}
}

// LogStartOffset is the first offset readable.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset is the offset the next append gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leoLocked()
}

// Changed returns a channel closed at the next append or high-watermark change.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.watched.Store(true)
	return l.changed
}

// Config returns the log's settings.
func (l *Log) Config() LogConfig {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig replaces the log's settings (topic config change); it applies to
// the next append, roll, retention and cleaning.
func (l *Log) SetConfig(cfg LogConfig) {
	l.mu.Lock()
	l.cfg = cfg.normalized()
	l.mu.Unlock()
}

// Size is the bytes of all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader-epoch
// cache: the largest epoch <= epoch and the offset where the next epoch
// starts (the log end for the latest epoch), or (-1, -1) if unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leoLocked())
}

// LatestEpoch is the newest leader epoch in the log's epoch cache, -1 if none.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

// Flush fsyncs everything appended so far and checkpoints indexes.
func (l *Log) Flush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.isClosed() {
		return nil
	}
	return storageErr(l.flushLocked(true))
}

// flushLocked fsyncs the active segment (earlier ones were synced at roll).
// Caller holds appendMu.
func (l *Log) flushLocked(indexes bool) error {
	act := l.active()
	if err := act.f.Sync(); err != nil {
		return err
	}
	l.mu.Lock()
	l.recovery = act.next
	var err error
	if indexes {
		err = act.writeIndexes(false)
	}
	l.mu.Unlock()
	l.unflushed = 0
	l.lastFlush = l.now()
	return err
}

// maybeFlushByTime is flush.ms, called by Manager.Run.
func (l *Log) maybeFlushByTime(now time.Time) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	cfg := l.Config()
	if l.isClosed() || l.unflushed == 0 || cfg.FlushMs == math.MaxInt64 || now.Sub(l.lastFlush).Milliseconds() < cfg.FlushMs {
		return nil
	}
	return storageErr(l.flushLocked(false))
}

// Close flushes, writes the producer snapshot, checkpoints and the
// clean-shutdown marker, and closes the files.
func (l *Log) Close() error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	var errs []error
	if !l.removeDir {
		errs = append(errs, l.flushLocked(true))
		l.mu.Lock()
		errs = append(errs, l.active().writeIndexes(true))
		l.mu.Unlock()
		errs = append(errs, l.writeSnapshot(l.LogEndOffset()))
		errs = append(errs, l.writeCheckpoint())
	}
	l.mu.Lock()
	l.closed = true
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	l.notifyLocked()
	l.mu.Unlock()
	err := errors.Join(errs...)
	if err == nil && !l.removeDir {
		err = writeFileAtomic(l.dir, cleanShutdownPath(l.dir), nil)
	}
	if l.onClose != nil {
		l.onClose()
	}
	return storageErr(err)
}

func cleanShutdownPath(dir string) string { return dir + string(os.PathSeparator) + cleanShutdownName }

const cleanShutdownName = ".clean-shutdown"
