// Package s3sink is Confluent's Amazon S3 sink connector for Sluice's
// Connect runtime: the same class name, config keys, defaults and object
// layout (<topics.dir>/<topic>/<encoded partition>/<topic>+<partition>+
// <start offset>.<ext>), written through aws-sdk-go-v2 to S3 or any
// S3-compatible store. Files are cut at deterministic boundaries and
// consumer offsets are committed only up to written objects, so each Kafka
// offset lands in exactly one object even across crashes; where boundaries
// depend on the wall clock, conditional writes (If-None-Match: *) and an
// end offset recorded on each object keep a replay from writing twice.
package s3sink

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Class is Confluent's class name; Alias is Sluice's own.
const (
	Class   = "io.confluent.connect.s3.S3SinkConnector"
	Alias   = "io.sluice.connect.s3.S3SinkConnector"
	version = "1.0.0"
)

func init() {
	plugin.Register(plugin.Plugin{Class: Class, Aliases: []string{Alias, "S3Sink"}, Kind: plugin.Sink, Version: version,
		New: func() plugin.Connector { return &connector{} }})
}

type connector struct{ cfg map[string]string }

func (c *connector) ConfigDef() plugin.ConfigDef { return configDef }

func (c *connector) Start(cfg map[string]string) error {
	if _, err := parseSettings(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// TaskConfigs gives every task the connector's configuration; the runtime's
// consumer group spreads the partitions over them.
func (c *connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, max(maxTasks, 1))
	for i := range out {
		m := make(map[string]string, len(c.cfg))
		for k, v := range c.cfg {
			m[k] = v
		}
		out[i] = m
	}
	return out, nil
}

func (c *connector) Stop() error              { return nil }
func (c *connector) NewTask() plugin.SinkTask { return &sinkTask{now: time.Now} }

// taskMetrics counts what a task did (read by tests and logs).
type taskMetrics struct {
	objects atomic.Int64 // objects written
	skipped atomic.Int64 // records skipped under errors.tolerance=all
}

// sinkTask is one task: a tpWriter per Kafka partition it has seen.
type sinkTask struct {
	mu      sync.Mutex // guards everything below; Put and the scheduler
	s       *settings
	store   *store
	f       format
	part    *partitioner
	writers map[plugin.TopicPartition]*tpWriter
	arena   arena // encoded records
	tctx    plugin.TaskContext
	now     func() time.Time
	metrics taskMetrics

	stop context.CancelFunc
	done chan struct{}
	err  error // a failed scheduled rotation, reported by the next Put

	// Background uploads: ctx ends at Stop; sem bounds them; wg waits.
	ctx      context.Context
	cancel   context.CancelFunc
	sem      chan struct{}
	wg       sync.WaitGroup
	asyncMu  sync.Mutex
	asyncErr error

	admin *kadm.Client // for dropCommitted, made on first use
}

const maxUploads = 4

// fail records a background upload's error for the next Put or PreCommit.
func (t *sinkTask) fail(err error) {
	t.asyncMu.Lock()
	defer t.asyncMu.Unlock()
	if t.asyncErr == nil && t.ctx.Err() == nil {
		t.asyncErr = err
	}
}

func (t *sinkTask) failed() error {
	t.asyncMu.Lock()
	defer t.asyncMu.Unlock()
	if t.err != nil {
		return t.err
	}
	return t.asyncErr
}

func (t *sinkTask) Start(ctx plugin.TaskContext, cfg map[string]string) error {
	s, err := parseSettings(cfg)
	if err != nil {
		return err
	}
	t.s, t.tctx = s, ctx
	t.f, t.part = newFormat(s), newPartitioner(s)
	t.part.now = t.now
	t.writers = map[plugin.TopicPartition]*tpWriter{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.sem = make(chan struct{}, maxUploads)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if t.store, err = newStore(cctx, s); err != nil {
		return err
	}
	if err := t.store.check(cctx); err != nil {
		return err
	}
	if s.rotateSchedule > 0 {
		rctx, stop := context.WithCancel(context.Background())
		t.stop, t.done = stop, make(chan struct{})
		go t.schedule(rctx)
	}
	return nil
}

// schedule rotates on rotate.schedule.interval.ms even when no records
// arrive (the runtime calls Put only with records).
func (t *sinkTask) schedule(ctx context.Context) {
	defer close(t.done)
	tick := time.NewTicker(min(t.s.rotateSchedule/4+time.Millisecond, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		for _, w := range t.writers {
			if len(w.recs) > 0 && !t.now().Before(w.scheduled) && w.forcedEnd < 0 && !w.gone.Load() && t.failed() == nil {
				if err := t.rotate(ctx, w); err != nil && ctx.Err() == nil {
					t.err = err
				}
			}
		}
		t.mu.Unlock()
	}
}

func (t *sinkTask) Put(records []*plugin.SinkRecord) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.failed(); err != nil {
		return err
	}
	ctx := t.ctx
	committed := map[plugin.TopicPartition]int64{} // looked up for partitions gone this call
	for _, r := range records {
		enc, err := t.encode(r)
		if err != nil {
			if err := t.reject(ctx, r, err); err != nil {
				return err
			}
			continue
		}
		if enc == nil {
			continue
		}
		tp := plugin.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		w := t.writers[tp]
		if w != nil && w.gone.Load() {
			back, err := t.cameBack(ctx, w, r.Offset, committed)
			if err != nil {
				return err
			}
			w.last = r.Offset
			if !back {
				continue
			}
			w = nil
		}
		if w == nil {
			if err := t.claim(ctx, tp); err != nil {
				return err
			}
			w = newTPWriter(tp)
			t.writers[tp] = w
		}
		if r.Offset <= w.last {
			// A rewind: the partition came back from the committed
			// offset (a rebalance or restart). What is buffered is
			// written again, and rotations still uploading no longer
			// decide what is committed (the group is at or past them).
			w.reset()
			w.inflight, w.committed = nil, -1
		}
		if err := t.add(ctx, w, *enc); err != nil {
			return err
		}
		w.last = r.Offset
	}
	return nil
}

// claim prepares to write a partition this task has not written yet (or
// lost): it aborts the partition's incomplete multipart uploads, left by
// a killed worker or by the task that had the partition before.
func (t *sinkTask) claim(ctx context.Context, tp plugin.TopicPartition) error {
	d := t.s.dirDelim
	prefix := tp.Topic + d
	if t.s.topicsDir != "" {
		prefix = t.s.topicsDir + d + prefix
	}
	file := tp.Topic + t.s.fileDelim + strconv.Itoa(int(tp.Partition)) + t.s.fileDelim
	_, err := t.store.abortDangling(ctx, prefix, d, file)
	return err
}

// cameBack says whether a record at off for a partition whose upload was
// aborted by a new owner (so this task lost it) starts the partition
// anew: the runtime hands a partition out again at the group's committed
// offset, which is always a file boundary, so writing from there
// duplicates nothing even if this task is still a zombie. Without a
// committed offset, a jump in offsets marks the new start.
func (t *sinkTask) cameBack(ctx context.Context, w *tpWriter, off int64, cache map[plugin.TopicPartition]int64) (bool, error) {
	at, ok := cache[w.tp]
	if !ok {
		var err error
		if at, err = t.committedOffset(ctx, w.tp); err != nil {
			return false, err
		}
		cache[w.tp] = at
	}
	if at < 0 {
		return off != w.last+1, nil
	}
	return off == at, nil
}

// encode prepares a record for its file; nil, nil skips it (a null value
// under behavior.on.null.values=ignore).
func (t *sinkTask) encode(r *plugin.SinkRecord) (*rec, error) {
	if r.Value == nil {
		if t.s.ignoreNulls {
			return nil, nil
		}
		return nil, fmt.Errorf("null valued records are not writeable with current behavior.on.null.values 'fail' setting (%s-%d offset %d)", r.Topic, r.Partition, r.Offset)
	}
	ts, err := t.part.timestamp(r)
	if err != nil {
		return nil, err
	}
	part, err := t.part.encode(r, ts)
	if err != nil {
		return nil, err
	}
	out := &rec{offset: r.Offset, ts: ts, part: part}
	if out.val, err = t.encodeItem(r.ValueSchema, r.Value); err != nil {
		return nil, err
	}
	if t.s.storeKeys {
		if r.Key == nil {
			return nil, fmt.Errorf("key cannot be null for record %s-%d offset %d with store.kafka.keys=true", r.Topic, r.Partition, r.Offset)
		}
		if out.key, err = t.encodeItem(r.KeySchema, r.Key); err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
	}
	if t.s.storeHeaders {
		if out.hdr, err = t.encodeItem(headerSchema, headerValue(r.Headers)); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
	}
	return out, nil
}

// encodeItem encodes one value into the task's arena.
func (t *sinkTask) encodeItem(s *plugin.Schema, v any) (item, error) {
	it, err := t.f.encode(t.arena.free(), s, v)
	if err != nil {
		return item{}, err
	}
	if it.b != nil {
		it.b = t.arena.keep(it.b)
	}
	return it, nil
}

// headerSchema is how headers are written: a struct of one array of
// {key, value} entries, values as strings.
var headerSchema = &plugin.Schema{Type: plugin.StructT, Name: "io.sluice.connect.s3.Headers", Fields: []plugin.Field{{Name: "headers",
	Schema: &plugin.Schema{Type: plugin.Array, Items: &plugin.Schema{Type: plugin.StructT, Name: "io.sluice.connect.s3.Header", Fields: []plugin.Field{
		{Name: "key", Schema: &plugin.Schema{Type: plugin.String}},
		{Name: "value", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
	}}}}}}

func headerValue(hs []plugin.Header) any {
	arr := make([]any, 0, len(hs))
	for _, h := range hs {
		var v any
		if h.Value != nil {
			v = string(h.Value)
		}
		arr = append(arr, plugin.NewStruct(headerSchema.Fields[0].Schema.Items).Put("key", h.Key).Put("value", v))
	}
	return plugin.NewStruct(headerSchema).Put("headers", arr)
}

// reject hands a record that cannot be written to the runtime's errant
// record reporter, which applies errors.tolerance (none fails the task,
// all skips the record) and writes it, as consumed, to the dead letter
// queue.
func (t *sinkTask) reject(ctx context.Context, r *plugin.SinkRecord, cause error) error {
	if p, ok := t.tctx.(plugin.ErrantRecordReporterProvider); ok {
		if err := p.ErrantRecordReporter().Report(ctx, r, cause); err != nil {
			return err
		}
		t.metrics.skipped.Add(1)
		return nil
	}
	// A context without a reporter (unit tests): tolerance only.
	if !t.s.tolerateAll {
		return fmt.Errorf("Tolerance exceeded in error handler: %w", cause)
	}
	t.metrics.skipped.Add(1)
	return nil
}

// Flush writes nothing: objects are written only at rotation, and offsets
// are committed only up to them (PreCommit).
func (t *sinkTask) Flush(map[plugin.TopicPartition]int64) error { return nil }

// PreCommit returns, per partition, the offset after the last written
// rotation, or the runtime's offset when nothing is buffered (everything
// consumed is written or skipped).
func (t *sinkTask) PreCommit(offsets map[plugin.TopicPartition]int64) (map[plugin.TopicPartition]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.failed(); err != nil {
		return nil, err
	}
	out := map[plugin.TopicPartition]int64{}
	for tp, off := range offsets {
		w := t.writers[tp]
		if w != nil && w.gone.Load() {
			continue // another task writes it now
		}
		if w != nil {
			w.settle()
		}
		switch {
		case w == nil || (len(w.recs) == 0 && len(w.inflight) == 0):
			out[tp] = off
		case len(w.recs) == 0 && w.committed >= 0:
			out[tp] = w.committed
		case w.committed >= 0 && w.committed <= w.recs[0].offset:
			out[tp] = w.committed
		}
	}
	return out, nil
}

// Stop drops what is buffered: it was not committed, so it comes again.
// Uploads under way are abandoned (an incomplete multipart upload never
// becomes an object).
func (t *sinkTask) Stop() error {
	if t.stop != nil {
		t.stop()
		<-t.done
	}
	if t.cancel != nil {
		t.cancel()
		t.wg.Wait()
	}
	if t.admin != nil {
		t.admin.Close()
	}
	return nil
}
