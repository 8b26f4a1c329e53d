package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/record"
)

// maxBatchesPerProducer is how many recent batches per producer are kept for
// duplicate detection, as Kafka's ProducerStateEntry (and the producer's
// max.in.flight.requests.per.connection <= 5 rule) assume.
const maxBatchesPerProducer = 5

// batchMeta identifies an appended idempotent batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

// producerEntry is the idempotence state of one producer id.
type producerEntry struct {
	epoch   int16
	n       int // valid entries in batches, oldest first
	batches [maxBatchesPerProducer]batchMeta
	lastTs  int64
}

func (e *producerEntry) last() *batchMeta {
	if e.n == 0 {
		return nil
	}
	return &e.batches[e.n-1]
}

func (e *producerEntry) add(m batchMeta) {
	if e.n == maxBatchesPerProducer {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = m
	e.n++
}

func (e *producerEntry) findDuplicate(h *record.Header) *batchMeta {
	if h.ProducerEpoch != e.epoch {
		return nil
	}
	last := h.LastSequence()
	for i := 0; i < e.n; i++ {
		if e.batches[i].firstSeq == h.BaseSequence && e.batches[i].lastSeq == last {
			return &e.batches[i]
		}
	}
	return nil
}

// producerState maps producer ids to their state. It is owned by the Log's
// append lock.
type producerState struct {
	m map[int64]*producerEntry
}

func newProducerState() *producerState { return &producerState{m: make(map[int64]*producerEntry)} }

func inSequence(lastSeq, nextSeq int32) bool {
	return nextSeq == lastSeq+1 || (nextSeq == 0 && lastSeq == 1<<31-1)
}

// check validates an incoming batch against e (the staged entry for its
// producer, nil if unknown), following Kafka's ProducerAppendInfo: an older
// epoch is INVALID_PRODUCER_EPOCH; a new epoch must start at sequence 0
// unless the producer was unknown; within an epoch the sequence must follow
// the last one. It returns the original metadata if the batch is a
// duplicate of one of the last five.
func check(e *producerEntry, h *record.Header) (*batchMeta, error) {
	if e == nil {
		return nil, nil // unknown producer: accept any sequence, as Kafka does
	}
	if h.ProducerEpoch < e.epoch {
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than the current %d", kerr.InvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", kerr.OutOfOrderSequenceNumber, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	if d := e.findDuplicate(h); d != nil {
		return d, nil
	}
	last := int32(-1)
	if l := e.last(); l != nil {
		last = l.lastSeq
	}
	if last >= 0 && !inSequence(last, h.BaseSequence) {
		return nil, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", kerr.OutOfOrderSequenceNumber, h.ProducerID, h.ProducerEpoch, record.IncrementSequence(last, 1), h.BaseSequence)
	}
	return nil, nil
}

// apply records an appended batch (with its final offsets) in e.
func apply(e *producerEntry, h *record.Header) {
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.n = 0
	}
	e.add(batchMeta{firstSeq: h.BaseSequence, lastSeq: h.LastSequence(), firstOffset: h.BaseOffset, lastOffset: h.LastOffset()})
	e.lastTs = h.MaxTimestamp
}

// replay applies a batch read back from the log (recovery, no checks).
func (ps *producerState) replay(h *record.Header) {
	if !h.HasProducerID() || h.IsControl() {
		return
	}
	e := ps.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps.m[h.ProducerID] = e
	}
	if h.ProducerEpoch < e.epoch {
		return
	}
	apply(e, h)
}

// truncateBefore forgets producers whose last batch is below off (their
// records are gone after DeleteRecords or retention), as Kafka does.
func (ps *producerState) truncateBefore(off int64) {
	for id, e := range ps.m {
		if l := e.last(); l == nil || l.lastOffset < off {
			delete(ps.m, id)
		}
	}
}

// truncateAfter drops batches at or after off (tail truncation).
func (ps *producerState) truncateAfter(off int64) {
	for id, e := range ps.m {
		k := 0
		for i := 0; i < e.n; i++ {
			if e.batches[i].lastOffset < off {
				e.batches[k] = e.batches[i]
				k++
			}
		}
		e.n = k
		if k == 0 {
			delete(ps.m, id)
		}
	}
}

// retained reports whether the batch at base offset off is one of the
// recent batches of producer pid, which compaction must keep (possibly
// empty) so that state rebuilt from the log still detects duplicates.
func (ps *producerState) retained(pid int64, off int64) bool {
	e := ps.m[pid]
	if e == nil {
		return false
	}
	for i := 0; i < e.n; i++ {
		if e.batches[i].firstOffset == off {
			return true
		}
	}
	return false
}

// Snapshot file: "SLPS", version, count, entries, CRC-32C of everything
// before it. Written to a temp name, fsynced, renamed.
var snapMagic = []byte("SLPS\x00\x01")

func (ps *producerState) encode() []byte {
	ids := make([]int64, 0, len(ps.m))
	for id := range ps.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := append([]byte(nil), snapMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := ps.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = append(b, byte(e.n))
		for i := 0; i < e.n; i++ {
			m := e.batches[i]
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadSnapshot = errors.New("producer snapshot is damaged")

func decodeProducerState(b []byte) (*producerState, error) {
	if len(b) < len(snapMagic)+8 || string(b[:len(snapMagic)]) != string(snapMagic) {
		return nil, errBadSnapshot
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadSnapshot
	}
	p := body[len(snapMagic):]
	n := binary.BigEndian.Uint32(p)
	p = p[4:]
	ps := newProducerState()
	for i := uint32(0); i < n; i++ {
		if len(p) < 19 {
			return nil, errBadSnapshot
		}
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(p[8:])), lastTs: int64(binary.BigEndian.Uint64(p[10:]))}
		id := int64(binary.BigEndian.Uint64(p))
		k := int(p[18])
		p = p[19:]
		if k > maxBatchesPerProducer || len(p) < 24*k {
			return nil, errBadSnapshot
		}
		for j := 0; j < k; j++ {
			e.add(batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(p)),
				lastSeq:     int32(binary.BigEndian.Uint32(p[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(p[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(p[16:])),
			})
			p = p[24:]
		}
		ps.m[id] = e
	}
	if len(p) != 0 {
		return nil, errBadSnapshot
	}
	return ps, nil
}

func (ps *producerState) clone() *producerState {
	c := newProducerState()
	for id, e := range ps.m {
		cp := *e
		c.m[id] = &cp
	}
	return c
}

// writeFileAtomic writes data to path via a temp file, fsync and rename, then
// fsyncs the directory so the rename itself is durable.
func writeFileAtomic(dir, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ExpireProducers forgets idempotent producers whose last batch timestamp is
// older than now - after, as Kafka does with producer.id.expiration.ms, so
// the state does not grow without bound. A later batch from an expired
// producer is accepted with any sequence, as from an unknown producer.
// Manager.Run calls it with the retention check.
func (l *Log) ExpireProducers(now time.Time, after time.Duration) int {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	cut := now.Add(-after).UnixMilli()
	n := 0
	for id, e := range l.producers.m {
		if e.lastTs < cut {
			delete(l.producers.m, id)
			n++
		}
	}
	return n
}
