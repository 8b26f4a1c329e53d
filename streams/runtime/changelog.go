package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The changelog holds, per task, the latest snapshot of its state together
// with the input offsets that state reflects, in a compacted topic keyed by
// the task's partition number (partition p of the changelog for task p).
// A task assigned to an instance restores the snapshot and resumes its
// inputs from those offsets rather than from the group's committed ones,
// so state never counts a record twice; outputs after the snapshot are
// written again (at least once).

// ChangelogTopic names the changelog of a job's stage (1-based).
func ChangelogTopic(job string, stage int) string {
	if stage <= 1 {
		return "_sluice-streams-" + job + "-changelog"
	}
	return fmt.Sprintf("_sluice-streams-%s-changelog-%d", job, stage)
}

type snapshotRecord struct {
	Offsets map[string]int64 `json:"offsets"` // next offset per input topic
	State   json.RawMessage  `json:"state"`
}

// writeSnapshot produces task p's snapshot; callers hold r.mu.
func (r *runner) writeSnapshot(p int32, ts *taskState) {
	if r.changelog == "" || !ts.dirty || r.dead {
		return
	}
	state, err := ts.task.Snapshot()
	if err == nil {
		var b []byte
		b, err = json.Marshal(snapshotRecord{Offsets: ts.offsets, State: state})
		if err == nil {
			r.produce(&kgo.Record{Topic: r.changelog, Partition: p, Key: []byte(strconv.Itoa(int(p))), Value: b})
			ts.dirty = false
			return
		}
	}
	r.cfg.Logger.Error("streams: cannot snapshot task", "job", r.job, "task", p, "err", err)
}

// snapshotAll writes the snapshot of every changed task.
func (r *runner) snapshotAll() {
	for p, ts := range r.tasks {
		r.writeSnapshot(p, ts)
	}
	r.lastSnap = time.Now()
}

// restore is kgo's AdjustFetchOffsetsFn: it loads the snapshot of every
// newly assigned task and starts its inputs where the snapshot left off.
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
		snap, err := r.readSnapshot(ctx, p)
		if err != nil {
			return nil, err
		}
		if snap == nil {
			continue
		}
		ts := r.newTaskState()
		if err := ts.task.Restore(snap.State); err != nil {
			return nil, fmt.Errorf("task %d: %w", p, err)
		}
		ts.offsets = snap.Offsets
		r.mu.Lock()
		r.tasks[p] = ts
		r.mu.Unlock()
		for topic, next := range snap.Offsets {
			if ps, ok := offsets[topic]; ok {
				if _, ok := ps[p]; ok {
					ps[p] = kgo.NewOffset().At(next)
				}
			}
		}
		r.cfg.Logger.Info("streams: task restored", "job", r.job, "task", p, "offsets", snap.Offsets)
	}
	return offsets, nil
}

// readSnapshot reads the last snapshot of task p, or nil if it has none.
func (r *runner) readSnapshot(ctx context.Context, p int32) (*snapshotRecord, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.changelog: {p: kgo.NewOffset().AtStart()}}),
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
	var last []byte
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil && !errors.Is(ferr, context.Canceled) {
			return nil, fmt.Errorf("read changelog: %w", ferr)
		}
		done := false
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Value != nil {
				last = rec.Value
			}
			if rec.Offset >= end.Offset-1 {
				done = true
			}
		})
		if done {
			break
		}
	}
	if last == nil {
		return nil, nil
	}
	var s snapshotRecord
	if err := json.Unmarshal(last, &s); err != nil {
		return nil, fmt.Errorf("changelog %s[%d]: %w", r.changelog, p, err)
	}
	return &s, nil
}

// partitioner places changelog records by their Partition field (task p's
// snapshot in partition p) and everything else by key, as Kafka does.
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
