package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

// sourceTask moves records from a plugin.SourceTask to Kafka.
//
// It is a pipeline, as Kafka Connect's WorkerSourceTask: a polled batch is
// converted and handed to the producer without waiting, and the next poll
// starts while Kafka acknowledges it. Offsets follow in poll order: once
// every batch up to some point is acknowledged, the latest offset per
// source partition of those batches is written to the offsets topic, and
// when that write is acknowledged the task hears of it (CommitRecord, then
// Commit). An offset therefore never covers a record Kafka has not
// acknowledged (at-least-once), and the plugin sees every call on the
// goroutine that polls it.
type sourceTask struct {
	rt   *Runtime
	id   TaskID
	s    taskSettings
	task plugin.SourceTask
	cfg  map[string]string

	inflight []*sourceBatch // produced, in poll order, not yet acknowledged in full
	pending  []*sourceBatch // acknowledged, offsets not yet written
	writing  *offsetWrite   // the offsets write in flight, if any
}

// maxInflightBatches bounds how many polled batches may await Kafka's
// acknowledgement before polling pauses (the producer's own buffer bounds
// the records).
const maxInflightBatches = 32

// sourceBatch is one polled batch on its way to Kafka.
type sourceBatch struct {
	latest    map[string]*plugin.SourceRecord // last record per source partition (by its JSON)
	remaining atomic.Int64                    // records not yet acknowledged
	done      chan struct{}                   // closed when remaining reaches zero
	errOnce   sync.Once
	err       error // the first produce failure; read after done
	produced  int
}

func newSourceBatch(n int) *sourceBatch {
	b := &sourceBatch{latest: map[string]*plugin.SourceRecord{}, done: make(chan struct{}), produced: n}
	b.remaining.Store(int64(n))
	if n == 0 {
		close(b.done)
	}
	return b
}

func (b *sourceBatch) acked(err error) {
	if err != nil {
		b.errOnce.Do(func() { b.err = err })
	}
	if b.remaining.Add(-1) == 0 {
		close(b.done)
	}
}

// offsetWrite is one write of offsets records and the source records it
// makes durable.
type offsetWrite struct {
	latest map[string]*plugin.SourceRecord
	start  time.Time
	done   chan struct{}
	err    error // read after done
}

func (t *sourceTask) run(ctx context.Context, started func()) error {
	offs, err := ReadOffsets(ctx, t.rt.cfg.Seeds, t.rt.cfg.OffsetsTopic, t.id.Connector)
	if err != nil {
		return fmt.Errorf("reading source offsets: %w", err)
	}
	if err := t.task.Start(taskContext{offsets: offs, rt: t.rt}, t.cfg); err != nil {
		return err
	}
	started()
	defer func() {
		if err := t.task.Stop(); err != nil {
			t.rt.srcLog.Warn("connect: stopping source task", "task", t.id.String(), "err", err)
		}
	}()
	for ctx.Err() == nil {
		recs, err := t.task.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			return t.stop(ctx, err)
		}
		if len(recs) > 0 {
			// Records polled before a stop are still delivered and their
			// offsets committed, so a stopping worker (scale-in, drain)
			// leaves nothing to redo.
			if err := t.send(ctx, recs); err != nil {
				return t.stop(ctx, err)
			}
		}
		if err := t.progress(ctx, len(t.inflight) >= maxInflightBatches); err != nil {
			return t.stop(ctx, err)
		}
	}
	return t.stop(ctx, nil)
}

// stop ends the pipeline, stopping or failing (cause): what Kafka already
// acknowledged gets its offsets written, on a context that outlives ctx by
// at most stopGrace, so a restarted task does not deliver it again.
func (t *sourceTask) stop(ctx context.Context, cause error) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
	defer cancel()
	err := t.finish(fctx)
	if cause != nil {
		return cause
	}
	return err
}

// send converts a polled batch and hands it to the producer.
func (t *sourceTask) send(ctx context.Context, recs []*plugin.SourceRecord) error {
	t.rt.metrics.polled.WithLabelValues(t.id.Connector).Add(float64(len(recs)))
	out := make([]*kgo.Record, 0, len(recs))
	latest := map[string]*plugin.SourceRecord{}
	for _, sr := range recs {
		if sr.SourcePartition != nil {
			k, _ := json.Marshal(sr.SourcePartition)
			latest[string(k)] = sr
		}
		kr, ec := t.convert(sr)
		if ec != nil {
			if err := t.rt.handle(ctx, t.id, t.s, *ec); err != nil {
				return err
			}
			continue
		}
		if kr != nil {
			out = append(out, kr)
		}
	}
	b := newSourceBatch(len(out))
	b.latest = latest
	t.inflight = append(t.inflight, b)
	if len(out) > 0 {
		t.rt.sawTopics(t.id, out)
		// The producer's context is not ctx: a record handed over while the
		// task is stopping must still reach Kafka (stop waits for it).
		pctx := context.WithoutCancel(ctx)
		for _, kr := range out {
			t.rt.cfg.Producer.Produce(pctx, kr, func(_ *kgo.Record, err error) { b.acked(err) })
		}
	}
	return nil
}

// progress moves acknowledged batches on to the offsets topic and tells
// the task about finished offset writes. With wait it first blocks until
// the oldest batch is acknowledged.
func (t *sourceTask) progress(ctx context.Context, wait bool) error {
	if wait && len(t.inflight) > 0 {
		select {
		case <-t.inflight[0].done:
		case <-ctx.Done():
			return nil
		}
	}
	for len(t.inflight) > 0 {
		b := t.inflight[0]
		select {
		case <-b.done:
		default:
			return t.commitProgress(ctx, false)
		}
		if b.err != nil {
			return fmt.Errorf("producing source records: %w", b.err)
		}
		t.rt.metrics.written.WithLabelValues(t.id.Connector).Add(float64(b.produced))
		t.pending = append(t.pending, b)
		t.inflight = t.inflight[1:]
	}
	return t.commitProgress(ctx, false)
}

// commitProgress finishes the offsets write in flight (waiting for it
// with wait) and starts the next one for the acknowledged batches.
func (t *sourceTask) commitProgress(ctx context.Context, wait bool) error {
	if w := t.writing; w != nil {
		if wait {
			select {
			case <-w.done:
			case <-ctx.Done():
				return fmt.Errorf("writing source offsets: %w", ctx.Err())
			}
		}
		select {
		case <-w.done:
		default:
			return nil
		}
		t.writing = nil
		if w.err != nil {
			t.rt.metrics.commitFailures.WithLabelValues(t.id.Connector).Inc()
			return fmt.Errorf("writing source offsets: %w", w.err)
		}
		t.committed(w.latest)
	}
	if len(t.pending) == 0 {
		return nil
	}
	latest := map[string]*plugin.SourceRecord{}
	for _, b := range t.pending {
		for k, sr := range b.latest {
			latest[k] = sr
		}
	}
	t.pending = t.pending[:0]
	if len(latest) == 0 {
		t.committed(nil)
		return nil
	}
	recs, err := t.offsetRecords(latest)
	if err != nil {
		return err
	}
	w := &offsetWrite{latest: latest, start: time.Now(), done: make(chan struct{})}
	remaining := atomic.Int64{}
	remaining.Store(int64(len(recs)))
	var once sync.Once
	pctx := context.WithoutCancel(ctx)
	for _, r := range recs {
		t.rt.cfg.Producer.Produce(pctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				once.Do(func() { w.err = err })
			}
			if remaining.Add(-1) == 0 {
				if w.err == nil {
					t.rt.metrics.commitLatency.WithLabelValues(t.id.Connector).Observe(time.Since(w.start).Seconds())
				}
				close(w.done)
			}
		})
	}
	t.writing = w
	return nil
}

// committed tells the task its records up to latest are durable.
func (t *sourceTask) committed(latest map[string]*plugin.SourceRecord) {
	if rc, ok := t.task.(plugin.RecordCommitter); ok {
		for _, sr := range latest {
			if err := rc.CommitRecord(sr); err != nil {
				t.rt.srcLog.Warn("connect: source task commit record", "task", t.id.String(), "err", err)
			}
		}
	}
	if err := t.task.Commit(); err != nil {
		t.rt.srcLog.Warn("connect: source task commit", "task", t.id.String(), "err", err)
	}
}

// finish waits for every batch handed to the producer and writes the
// offsets of those Kafka acknowledged in full, in poll order, up to the
// first that failed; it returns that failure.
func (t *sourceTask) finish(ctx context.Context) error {
	var failed error
	for failed == nil && len(t.inflight) > 0 {
		b := t.inflight[0]
		select {
		case <-b.done:
		case <-ctx.Done():
			failed = fmt.Errorf("producing source records: %w", ctx.Err())
			continue
		}
		if b.err != nil {
			failed = fmt.Errorf("producing source records: %w", b.err)
			continue
		}
		t.rt.metrics.written.WithLabelValues(t.id.Connector).Add(float64(b.produced))
		t.pending = append(t.pending, b)
		t.inflight = t.inflight[1:]
	}
	// The first call finishes the write in flight and starts one for the
	// pending batches, the second waits for that one.
	for range 2 {
		if err := t.commitProgress(ctx, true); err != nil {
			return err
		}
	}
	return failed
}

func (t *sourceTask) convert(sr *plugin.SourceRecord) (*kgo.Record, *errorContext) {
	r := &Record{Topic: sr.Topic, Partition: -1, Offset: -1, KeySchema: sr.KeySchema, Key: sr.Key, ValueSchema: sr.ValueSchema, Value: sr.Value, Headers: sr.Headers, Timestamp: sr.Timestamp}
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
	r, err := t.s.chain.Apply(r)
	if err != nil {
		return nil, &errorContext{stage: stageTransformation, err: err}
	}
	if r == nil {
		return nil, nil
	}
	k, err := t.s.keyConv.FromConnect(r.Topic, r.KeySchema, r.Key)
	if err != nil {
		return nil, &errorContext{stage: stageKeyConverter, err: err}
	}
	v, err := t.s.valConv.FromConnect(r.Topic, r.ValueSchema, r.Value)
	if err != nil {
		return nil, &errorContext{stage: stageValueConverter, err: err}
	}
	kr := &kgo.Record{Topic: r.Topic, Key: k, Value: v, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr, nil
}

// offsetRecords are the latest offset per source partition in Kafka
// Connect's format: key ["<connector>",{partition}], value {offset}.
func (t *sourceTask) offsetRecords(latest map[string]*plugin.SourceRecord) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, 0, len(latest))
	for _, sr := range latest {
		k, err := json.Marshal([]any{t.id.Connector, sr.SourcePartition})
		if err != nil {
			return nil, err
		}
		var v []byte
		if sr.SourceOffset != nil {
			if v, err = json.Marshal(sr.SourceOffset); err != nil {
				return nil, err
			}
		}
		recs = append(recs, &kgo.Record{Topic: t.rt.cfg.OffsetsTopic, Key: k, Value: v})
	}
	return recs, nil
}
