package s3sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

// rec is one record as buffered for its next file.
type rec struct {
	offset   int64
	ts       int64
	part     string // encoded partition
	val      item
	key, hdr item
}

// tpWriter buffers one Kafka partition's records until rotation and then
// writes one object per encoded partition (plus keys and headers objects).
// Boundaries follow Confluent's TopicPartitionWriter: flush.size records,
// rotate.interval.ms of extractor time or a change of encoded partition,
// rotate.schedule.interval.ms on the wall clock, or a schema change.
type tpWriter struct {
	tp        plugin.TopicPartition
	recs      []rec
	schema    *plugin.Schema // value schema of the open batch
	base      int64          // extractor time of the batch's first record
	scheduled time.Time      // next wall-clock rotation
	// forcedEnd is the last offset of a rotation already written by an
	// earlier attempt (learnt from its first object); -1 when unknown.
	forcedEnd int64
	probed    bool  // the batch's first object was looked up
	committed int64 // next offset after the last written rotation; -1 none
	inflight  []*upload
	last      int64 // offset of the last record put; -1 none
	// gone is set when an upload was aborted under the writer: another
	// task owns the partition now; records are dropped until it comes
	// back (cameBack), and nothing is committed for it.
	gone atomic.Bool
}

func newTPWriter(tp plugin.TopicPartition) *tpWriter {
	return &tpWriter{tp: tp, forcedEnd: -1, committed: -1, last: -1}
}

// reset starts a new rotation; the old records slice may still be in an
// upload's hands, so it is not reused.
func (w *tpWriter) reset() {
	w.recs, w.schema, w.forcedEnd, w.probed = nil, nil, -1, false
}

// key is the object key of a file, exactly as Confluent names it:
// <topics.dir>/<topic>/<encoded partition>/<topic>+<partition>+<offset><ext>.
func (t *sinkTask) key(topic string, partition int32, encoded string, start int64, ext string) string {
	off := strconv.FormatInt(start, 10)
	if n := t.s.padWidth - len(off); n > 0 {
		off = strings.Repeat("0", n) + off
	}
	d := t.s.dirDelim
	name := topic + t.s.fileDelim + strconv.Itoa(int(partition)) + t.s.fileDelim + off + ext
	dir := encoded
	if t.s.topicsDir != "" {
		return t.s.topicsDir + d + topic + d + dir + d + name
	}
	return topic + d + dir + d + name
}

// add appends r to w, rotating before or after it as the rules say.
func (t *sinkTask) add(ctx context.Context, w *tpWriter, r rec) error {
	if n := len(w.recs); n > 0 && r.offset <= w.recs[n-1].offset {
		// A rewind: the partition came back from the committed offset
		// (a rebalance or restart); what we hold is written again.
		w.reset()
	}
	if n := len(w.recs); n > 0 && r.offset > w.recs[n-1].offset+1 {
		// A gap: compaction or transaction markers, or the partition was
		// away (another task wrote and committed past what we hold).
		if err := t.dropCommitted(ctx, w); err != nil {
			return err
		}
	}
	if len(w.recs) > 0 && t.rotateBefore(w, r) {
		if err := t.rotate(ctx, w); err != nil {
			return err
		}
	}
	if len(w.recs) == 0 {
		if w.recs == nil {
			w.recs = make([]rec, 0, min(t.s.flushSize, 1<<14))
		}
		w.schema, w.base = r.val.schema, r.ts
		if t.s.rotateSchedule > 0 {
			w.scheduled = t.now().Truncate(t.s.rotateSchedule).Add(t.s.rotateSchedule)
		}
	}
	w.recs = append(w.recs, r)
	if t.store.conditional && !w.probed {
		// The first object of a rotation tells whether an earlier attempt
		// wrote this rotation already, and where it ended.
		w.probed = true
		end, err := t.store.endOffset(ctx, t.key(w.tp.Topic, w.tp.Partition, r.part, r.offset, t.f.ext()))
		if err != nil {
			return err
		}
		w.forcedEnd = end
	}
	if w.forcedEnd >= 0 {
		if r.offset >= w.forcedEnd {
			return t.rotate(ctx, w)
		}
		return nil
	}
	if len(w.recs) >= t.s.flushSize {
		return t.rotate(ctx, w)
	}
	return nil
}

func (t *sinkTask) rotateBefore(w *tpWriter, r rec) bool {
	if w.forcedEnd >= 0 {
		return r.offset > w.forcedEnd
	}
	if !sameSchema(w.schema, r.val.schema) {
		return true
	}
	last := w.recs[len(w.recs)-1]
	if t.s.rotateInterval > 0 && (r.ts-w.base >= t.s.rotateInterval.Milliseconds() || r.part != last.part) {
		return true
	}
	return t.s.rotateSchedule > 0 && !t.now().Before(w.scheduled)
}

// rotate writes the buffered records, one object per encoded partition in
// the order of their first offsets, and advances the committable offset.
// Without conditional writes the objects go up in the background (at most
// maxUploads at once per task) and the offset advances when they and every
// earlier rotation of the partition are written; with them the task waits,
// since a lost race changes where the rotation ends.
func (t *sinkTask) rotate(ctx context.Context, w *tpWriter) error {
	if len(w.recs) == 0 {
		return nil
	}
	recs := w.recs
	end := recs[len(recs)-1].offset
	if !t.store.conditional {
		p := &upload{end: end}
		w.inflight = append(w.inflight, p)
		w.reset()
		select {
		case t.sem <- struct{}{}:
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer func() { <-t.sem }()
			if _, err := t.writeBatch(t.ctx, w.tp, recs, end, false); err != nil {
				if errors.Is(err, errUploadGone) {
					w.gone.Store(true)
					return
				}
				t.fail(err)
				return
			}
			p.done.Store(true)
		}()
		return nil
	}
	lost, err := t.writeBatch(ctx, w.tp, recs, end, w.forcedEnd >= 0)
	if errors.Is(err, errUploadGone) {
		w.gone.Store(true)
		w.reset()
		return nil
	}
	if err != nil {
		return err
	}
	if lost != "" {
		// Another writer (a zombie task or an attempt that crashed after
		// its first object) won the race for this rotation: cut where it
		// cut and try again.
		prior, err := t.store.endOffset(ctx, lost)
		if err != nil {
			return err
		}
		return t.recut(ctx, w, prior)
	}
	w.committed = end + 1
	w.reset()
	return nil
}

// upload is a rotation being written in the background.
type upload struct {
	end  int64
	done atomic.Bool
}

// settle advances w.committed over the finished uploads at the head of its
// queue.
func (w *tpWriter) settle() {
	for len(w.inflight) > 0 && w.inflight[0].done.Load() {
		w.committed = w.inflight[0].end + 1
		w.inflight = w.inflight[1:]
	}
}

// writeBatch writes one rotation's objects. When the first object's
// conditional write finds the key taken and the rotation's end was not
// known (expected false), it returns that key instead of writing more.
func (t *sinkTask) writeBatch(ctx context.Context, tp plugin.TopicPartition, recs []rec, end int64, expected bool) (string, error) {
	type file struct {
		part  string
		start int64
		recs  []int
	}
	byPart := map[string]*file{}
	var files []*file
	for i, r := range recs {
		f := byPart[r.part]
		if f == nil {
			f = &file{part: r.part, start: r.offset}
			byPart[r.part] = f
			files = append(files, f)
		}
		f.recs = append(f.recs, i)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].start < files[j].start })
	for fi, f := range files {
		kinds := []struct {
			ext string
			get func(r *rec) item
			on  bool
		}{
			{t.f.ext(), func(r *rec) item { return r.val }, true},
			{".keys" + t.f.ext(), func(r *rec) item { return r.key }, t.s.storeKeys},
			{".headers" + t.f.ext(), func(r *rec) item { return r.hdr }, t.s.storeHeaders},
		}
		for ki, k := range kinds {
			if !k.on {
				continue
			}
			items := make([]item, len(f.recs))
			for i, ri := range f.recs {
				items[i] = k.get(&recs[ri])
			}
			key := t.key(tp.Topic, tp.Partition, f.part, f.start, k.ext)
			body, err := t.f.file(items, key)
			if err != nil {
				return "", err
			}
			err = t.store.put(ctx, key, body, end)
			if errors.Is(err, ErrExists) {
				if fi == 0 && ki == 0 && !expected {
					return key, nil
				}
				continue // written by the attempt we are repeating
			}
			if err != nil {
				return "", err
			}
			t.metrics.objects.Add(1)
		}
	}
	return "", nil
}

// recut re-buffers w's records as a rotation ending at end, writes it
// when it is complete and keeps the rest for the next one.
func (t *sinkTask) recut(ctx context.Context, w *tpWriter, end int64) error {
	if end < 0 {
		return fmt.Errorf("object for %s at offset %d vanished after a conditional write failed", w.tp.Topic, w.recs[0].offset)
	}
	recs := append([]rec(nil), w.recs...)
	w.reset()
	w.probed, w.forcedEnd = true, end
	for i, r := range recs {
		if len(w.recs) == 0 {
			w.schema, w.base = r.val.schema, r.ts
		}
		w.recs = append(w.recs, r)
		if r.offset >= end || (i+1 < len(recs) && recs[i+1].offset > end) {
			if err := t.rotate(ctx, w); err != nil {
				return err
			}
			for _, rest := range recs[i+1:] {
				if err := t.add(ctx, w, rest); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

// dropCommitted drops buffered records below the group's committed offset:
// another task wrote them while the partition was away from this one (the
// SDK tells sink tasks nothing of rebalances).
func (t *sinkTask) dropCommitted(ctx context.Context, w *tpWriter) error {
	if t.s.name == "" || t.tctx == nil || len(t.tctx.Bootstrap()) == 0 {
		return nil
	}
	at, err := t.committedOffset(ctx, w.tp)
	if err != nil || at <= w.recs[0].offset {
		return err
	}
	// Everything below at is written and committed: older rotations
	// still uploading no longer decide what is committed.
	w.inflight, w.committed = nil, -1
	keep := w.recs[:0:0]
	for _, r := range w.recs {
		if r.offset >= at {
			keep = append(keep, r)
		}
	}
	w.reset()
	for _, r := range keep {
		if err := t.add(ctx, w, r); err != nil {
			return err
		}
	}
	return nil
}

// committedOffset is the connector group's committed offset of tp, -1
// when there is none (or no group to ask: a task run outside a worker).
func (t *sinkTask) committedOffset(ctx context.Context, tp plugin.TopicPartition) (int64, error) {
	if t.s.name == "" || t.tctx == nil || len(t.tctx.Bootstrap()) == 0 {
		return -1, nil
	}
	if t.admin == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(t.tctx.Bootstrap()...))
		if err != nil {
			return 0, err
		}
		t.admin = kadm.NewClient(cl)
	}
	// The group's coordinator may be moving or loading (brokers and
	// workers restart); a few tries before the task fails.
	var offs kadm.OffsetResponses
	var err error
	for try := 0; ; try++ {
		if offs, err = t.admin.FetchOffsets(ctx, "connect-"+t.s.name); err == nil {
			break
		}
		if try == 4 || ctx.Err() != nil {
			return 0, fmt.Errorf("reading committed offsets of %s: %w", tp.Topic, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try+1) * 200 * time.Millisecond):
		}
	}
	o, ok := offs.Lookup(tp.Topic, tp.Partition)
	if !ok || o.Err != nil || o.At < 0 {
		return -1, nil
	}
	return o.At, nil
}
