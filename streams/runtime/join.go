package runtime

import (
	"container/heap"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/spec"
)

// joinSide is the value map join expressions see.
func (t *Task) joinOutput(op *plan.Join, key any, left, right any, ts int64) (Record, error) {
	env := map[string]any{"left": left, "right": right}
	r := Record{Key: key, Value: env, Time: ts}
	if len(op.Select) == 0 {
		return r, nil
	}
	out := make(map[string]any, len(op.Select))
	for _, f := range op.Select {
		v, err := t.eval(f.Prog, op.Step, r)
		if err != nil {
			return Record{}, err
		}
		out[f.Name] = v
	}
	r.Value = out
	return r, nil
}

// otherKey is the join key of a record from the other source.
func (t *Task) otherKey(op *plan.Join, r Record) (any, error) {
	if op.Key == nil {
		return r.Key, nil
	}
	return t.eval(op.Key, op.Step, r)
}

// tableJoinOp is a stream-table join: the table holds the latest value per
// key; stream records look it up when they arrive and table updates never
// emit (Kafka Streams' KStream-KTable join).
type tableJoinOp struct {
	op    *plan.Join
	table map[string]any
}

func (j *tableJoinOp) source() int { return j.op.Source }

func (j *tableJoinOp) other(t *Task, i int, r Record) error {
	k, err := t.otherKey(j.op, r)
	if err != nil {
		return err
	}
	sk := KeyString(k)
	if r.Value == nil {
		delete(j.table, sk)
	} else {
		j.table[sk] = r.Value
	}
	t.dirty[dirtyRef{op: i, row: sk}] = true
	return nil
}

func (j *tableJoinOp) process(t *Task, i int, r Record) error {
	if r.Value == nil {
		return nil
	}
	right, ok := j.table[KeyString(r.Key)]
	if !ok && j.op.Type == spec.Inner {
		return nil
	}
	out, err := t.joinOutput(j.op, r.Key, r.Value, right, r.Time)
	if err != nil {
		return err
	}
	return t.run(i+1, out)
}

func (j *tableJoinOp) advance(*Task, int) error { return nil }

// streamJoinOp is a stream-stream join: records of either side join those
// of the other side with the same key whose event times differ by at most
// `within`. Each record is buffered until stream time passes its time +
// within + grace; for left and outer joins an unmatched record is emitted
// with null for the other side only then (Kafka Streams since 3.1), never
// eagerly.
type streamJoinOp struct {
	op      *plan.Join
	buf     [2]map[string][]*joinEntry // 0: pipeline (left), 1: other (right)
	expiry  joinHeap
	padLeft bool // emit unmatched left records
	padRght bool // emit unmatched right records
}

type joinEntry struct {
	side    int
	key     any
	skey    string
	value   any
	time    int64
	matched bool
	seq     int64 // creation order: the store key, and ties in expiry
	stored  bool  // written to the changelog: deleting it needs a tombstone
}

func newStreamJoinOp(op *plan.Join) *streamJoinOp {
	return &streamJoinOp{
		op:      op,
		buf:     [2]map[string][]*joinEntry{{}, {}},
		padLeft: op.Type == spec.Left || op.Type == spec.Outer,
		padRght: op.Type == spec.Outer,
	}
}

func (j *streamJoinOp) source() int { return j.op.Source }

func (j *streamJoinOp) process(t *Task, i int, r Record) error {
	return j.add(t, i, 0, r.Key, r)
}

func (j *streamJoinOp) other(t *Task, i int, r Record) error {
	k, err := t.otherKey(j.op, r)
	if err != nil {
		return err
	}
	return j.add(t, i, 1, k, r)
}

func (j *streamJoinOp) add(t *Task, i, side int, key any, r Record) error {
	if r.Value == nil {
		return nil // Kafka Streams' stream joins skip null values
	}
	if r.Time+j.op.Within+j.op.Grace < t.streamTime {
		t.stats.Late++
		return nil
	}
	t.seq++
	e := &joinEntry{side: side, key: key, skey: KeyString(key), value: r.Value, time: r.Time, seq: t.seq}
	t.dirty[dirtyRef{op: i, e: e}] = true
	var first error
	for _, o := range j.buf[1-side][e.skey] {
		d := o.time - e.time
		if d < -j.op.Within || d > j.op.Within {
			continue
		}
		left, right := e, o
		if side == 1 {
			left, right = o, e
		}
		if !o.matched {
			o.matched = true
			t.dirty[dirtyRef{op: i, e: o}] = true
		}
		e.matched = true
		out, err := t.joinOutput(j.op, left.key, left.value, right.value, max(left.time, right.time))
		if err == nil {
			err = t.run(i+1, out)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	j.buf[side][e.skey] = append(j.buf[side][e.skey], e)
	heap.Push(&j.expiry, e)
	return first
}

func (j *streamJoinOp) advance(t *Task, i int) error {
	var first error
	for j.expiry.Len() > 0 && j.expiry[0].time+j.op.Within+j.op.Grace < t.streamTime {
		e := heap.Pop(&j.expiry).(*joinEntry)
		t.dirty[dirtyRef{op: i, e: e}] = false
		list := j.buf[e.side][e.skey]
		for n, x := range list {
			if x == e {
				list = append(list[:n], list[n+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(j.buf[e.side], e.skey)
		} else {
			j.buf[e.side][e.skey] = list
		}
		if e.matched || (e.side == 0 && !j.padLeft) || (e.side == 1 && !j.padRght) {
			continue
		}
		var out Record
		var err error
		if e.side == 0 {
			out, err = t.joinOutput(j.op, e.key, e.value, nil, e.time)
		} else {
			out, err = t.joinOutput(j.op, e.key, nil, e.value, e.time)
		}
		if err == nil {
			err = t.run(i+1, out)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

type joinHeap []*joinEntry

func (h joinHeap) Len() int { return len(h) }
func (h joinHeap) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time < h[j].time
	}
	return h[i].seq < h[j].seq
}
func (h joinHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *joinHeap) Push(x any)   { *h = append(*h, x.(*joinEntry)) }
func (h *joinHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
