package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/streams/plan"
)

// The changelog of a stage is a compacted topic with one partition per
// task (partition p for task p). It holds one record per store key (see
// store.go; a tombstone for a deleted entry) and, after each batch of
// changes, a meta record (key MetaKey) with the input offsets and stream
// time those changes are consistent with. The runner writes a batch only
// once the outputs of the records it covers are acknowledged.
//
// A task assigned to an instance reads its partition back: store records
// up to the last meta record are its state, and its inputs resume from
// that meta record's offsets rather than the group's committed ones, so
// the state never counts a record twice or misses one; outputs after it
// are written again (at least once). Store records after the last meta
// record come from an instance that died mid-batch: they are ignored, and
// rewritten with the restored values before the next meta record, so they
// never become part of a later consistent point.

// MetaKey is the changelog key of a task's meta record.
const MetaKey = "\x00meta"

// ChangelogTopic names the changelog of a job's stage (1-based).
func ChangelogTopic(job string, stage int) string {
	if stage <= 1 {
		return "_sluice-streams-" + job + "-changelog"
	}
	return fmt.Sprintf("_sluice-streams-%s-changelog-%d", job, stage)
}

type metaRecord struct {
	Offsets map[string]int64 `json:"offsets"` // next offset per input topic
	// Plan fingerprints the stage's operators: state written by another
	// version of the job is not loaded (see restore).
	Plan string `json:"plan,omitempty"`
	TaskMeta
}

// fingerprint identifies what a stage's stores hold: each operator's kind
// and, for stateful ones, what shapes their entries. Filters and maps
// count too, since store keys carry operator positions.
func fingerprint(p *plan.Plan) string {
	h := fnv.New64a()
	src := func(pr *plan.Prog) string {
		if pr == nil {
			return ""
		}
		return pr.Src.Src
	}
	for _, op := range p.Ops {
		fmt.Fprintf(h, "%T;", op)
		switch o := op.(type) {
		case *plan.Aggregate:
			if o.Window != nil {
				fmt.Fprintf(h, "%+v;", *o.Window)
			}
			fmt.Fprintf(h, "%s;%s;", src(o.GroupBy), o.Emit)
			for _, f := range o.Fields {
				fmt.Fprintf(h, "%s,%s,%s,%d;", f.Name, f.Fn, src(f.Of), f.K)
			}
		case *plan.Join:
			fmt.Fprintf(h, "%s;%v;%s;%d;%d;%s;", p.Sources[o.Source].Topic, o.Table, o.Type, o.Within, o.Grace, src(o.Key))
		}
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// writeChanges produces task p's store changes and then its meta record;
// callers hold r.mu.
func (r *runner) writeChanges(p int32, ts *taskState) {
	if r.changelog == "" || !ts.dirty || r.dead {
		return
	}
	changes, err := ts.task.Changes()
	var meta []byte
	if err == nil {
		meta, err = json.Marshal(metaRecord{Offsets: ts.offsets, Plan: r.fingerprint, TaskMeta: ts.task.Meta()})
	}
	if err != nil {
		r.cfg.Logger.Error("streams: cannot write task state", "job", r.job, "task", p, "err", err)
		return
	}
	for _, c := range changes {
		r.produce(&kgo.Record{Topic: r.changelog, Partition: p, Key: []byte(c.Key), Value: c.Value})
	}
	r.produce(&kgo.Record{Topic: r.changelog, Partition: p, Key: []byte(MetaKey), Value: meta})
	r.stateWrites += int64(len(changes))
	ts.dirty = false
}

// writeAllChanges writes the changes of every task that processed records.
func (r *runner) writeAllChanges() {
	for p, ts := range r.tasks {
		r.writeChanges(p, ts)
	}
	r.lastSnap = time.Now()
}

// restore is kgo's AdjustFetchOffsetsFn: it rebuilds the stores of every
// newly assigned task from the changelog and starts its inputs where the
// last meta record left off.
func (r *runner) restore(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	if r.changelog == "" {
		return offsets, nil
	}
	parts := map[int32]bool{}
	for _, ps := range offsets {
		for p := range ps {
			parts[p] = true
		}
	}
	for p := range parts {
		st, err := r.readChangelog(ctx, p)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		ts := r.newTaskState()
		if st.meta.Plan != r.fingerprint {
			// The job was changed since this state was written: its
			// entries mean something else now. Start empty from the
			// group's offsets, and delete the old entries from the
			// changelog before the next consistent point.
			keys := st.orphans
			for k := range st.entries {
				keys = append(keys, k)
			}
			ts.task.Forget(keys)
			ts.dirty = true
			r.mu.Lock()
			r.tasks[p] = ts
			r.mu.Unlock()
			r.cfg.Logger.Warn("streams: the job changed since its state was written; starting task without it",
				"job", r.job, "task", p, "discarded", len(keys))
			continue
		}
		if err := ts.task.Load(st.entries, st.meta.TaskMeta); err != nil {
			return nil, fmt.Errorf("task %d: %w", p, err)
		}
		ts.task.Forget(st.orphans)
		ts.offsets = st.meta.Offsets
		if ts.offsets == nil {
			ts.offsets = map[string]int64{}
		}
		ts.dirty = ts.task.Dirty()
		r.mu.Lock()
		r.tasks[p] = ts
		r.mu.Unlock()
		for topic, next := range st.meta.Offsets {
			if ps, ok := offsets[topic]; ok {
				if _, ok := ps[p]; ok {
					ps[p] = kgo.NewOffset().At(next)
				}
			}
		}
		r.cfg.Logger.Info("streams: task restored", "job", r.job, "task", p, "entries", len(st.entries),
			"discarded", len(st.orphans), "offsets", st.meta.Offsets)
	}
	return offsets, nil
}

type restored struct {
	entries map[string][]byte
	meta    metaRecord
	orphans []string // keys written after the last meta record
}

// readChangelog reads task p's changelog partition to its end, or returns
// nil if it holds no meta record.
func (r *runner) readChangelog(ctx context.Context, p int32) (*restored, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.changelog: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(64 << 20),
	}, r.cfg.ExtraOpts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, r.changelog)
	if err != nil {
		return nil, fmt.Errorf("changelog end offsets: %w", err)
	}
	end, ok := ends.Lookup(r.changelog, p)
	if !ok || end.Err != nil {
		return nil, fmt.Errorf("changelog %s[%d]: %v", r.changelog, p, end.Err)
	}
	if end.Offset == 0 {
		return nil, nil
	}
	committed := map[string][]byte{}
	pending := map[string][]byte{} // since the last meta record; nil value: tombstone
	var meta []byte
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil && !errors.Is(ferr, context.Canceled) {
			return nil, fmt.Errorf("read changelog: %w", ferr)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end.Offset-1 {
				done = true
			}
			if rec.Offset >= end.Offset {
				return
			}
			if string(rec.Key) == MetaKey {
				if rec.Value == nil {
					return
				}
				meta = rec.Value
				for k, v := range pending {
					if v == nil {
						delete(committed, k)
					} else {
						committed[k] = v
					}
				}
				clear(pending)
				return
			}
			pending[string(rec.Key)] = rec.Value
		})
	}
	if meta == nil {
		return nil, nil
	}
	st := &restored{entries: committed}
	if err := json.Unmarshal(meta, &st.meta); err != nil {
		return nil, fmt.Errorf("changelog %s[%d]: meta record: %w", r.changelog, p, err)
	}
	for k := range pending {
		st.orphans = append(st.orphans, k)
	}
	return st, nil
}

// partitioner places changelog records by their Partition field (task p's
// state in partition p) and everything else by key, as Kafka does.
type partitioner struct {
	changelog string
	byKey     kgo.Partitioner
}

func newPartitioner(changelog string) kgo.Partitioner {
	return partitioner{changelog: changelog, byKey: kgo.StickyKeyPartitioner(nil)}
}

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.changelog {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.byKey.ForTopic(topic)
}
