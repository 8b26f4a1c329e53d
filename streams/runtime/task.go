// Package runtime executes compiled stream jobs. Its core, Task, is pure:
// records in, records out, no I/O, no goroutines, no clock; stream time is
// the largest event time a task has seen. Runner (runner.go) is the edge
// that feeds tasks from Kafka partitions and writes their output back.
package runtime

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/expr-lang/expr"

	"github.com/sluicehq/sluice/streams/plan"
)

// Bounds is a window [Start, End) in ms; session windows are [first, last]
// event time as in Kafka Streams, carried here with End = last.
type Bounds struct{ Start, End int64 }

// Record is a keyed value at an event time. A nil Value is a tombstone.
type Record struct {
	Key    any
	Value  any // map[string]any for JSON objects
	Time   int64
	Window *Bounds // set on the output of windowed aggregates
}

// EvalError is an expression that failed on one record at run time; the
// caller sends that record to the dead-letter topic and goes on.
type EvalError struct {
	Step int
	Src  string
	Err  error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("steps[%d]: %q: %v", e.Step, e.Src, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Stats are a task's counters.
type Stats struct {
	In, Out, Late int64
	StepIn        []int64 // records entering each operator
}

// Task runs one job over one input partition (and the co-partitioned
// partitions of the job's other sources). It is not safe for concurrent use.
type Task struct {
	plan       *plan.Plan
	ops        []operator
	emit       func(Record)
	streamTime int64
	stats      Stats
	env        map[string]any // reused for non-object values
	// The stores' entries changed since the last Changes call: true to
	// write the entry's value, false to delete it (store.go).
	dirty map[dirtyRef]bool
	seq   int64 // numbers groups and join entries in creation order
}

type operator interface {
	// process handles a record that reached operator i.
	process(t *Task, i int, r Record) error
	// advance emits what stream time has closed.
	advance(t *Task, i int) error
}

// NewTask builds a task; emit receives every output record in order.
func NewTask(p *plan.Plan, emit func(Record)) *Task {
	t := &Task{plan: p, emit: emit, streamTime: math.MinInt64, env: map[string]any{}, dirty: map[dirtyRef]bool{}}
	for _, op := range p.Ops {
		switch o := op.(type) {
		case *plan.Filter:
			t.ops = append(t.ops, filterOp{o})
		case *plan.Map:
			t.ops = append(t.ops, mapOp{o})
		case *plan.KeyBy:
			t.ops = append(t.ops, keyByOp{o})
		case *plan.Aggregate:
			t.ops = append(t.ops, newAggOp(o))
		case *plan.Join:
			if o.Table {
				t.ops = append(t.ops, &tableJoinOp{op: o, table: map[string]any{}})
			} else {
				t.ops = append(t.ops, newStreamJoinOp(o))
			}
		}
	}
	t.stats.StepIn = make([]int64, len(t.ops))
	return t
}

// StreamTime is the largest event time seen from the task's stream sources.
func (t *Task) StreamTime() int64 { return t.streamTime }

// Stats returns a copy of the task's counters.
func (t *Task) Stats() Stats {
	s := t.stats
	s.StepIn = append([]int64(nil), t.stats.StepIn...)
	return s
}

// Process feeds one record read from the job's source number src. An
// *EvalError means an expression failed on this record; other state is
// unaffected and the task can go on.
func (t *Task) Process(src int, r Record) error {
	t.stats.In++
	s := t.plan.Sources[src]
	if !s.Table && r.Time > t.streamTime {
		t.streamTime = r.Time
	}
	var err error
	if src == 0 {
		err = t.run(0, r)
	} else {
		for i, op := range t.ops {
			if j, ok := op.(sideInput); ok && j.source() == src {
				err = j.other(t, i, r)
				break
			}
		}
	}
	if aerr := t.advance(); err == nil {
		err = aerr
	}
	return err
}

type sideInput interface {
	source() int
	other(t *Task, i int, r Record) error
}

// advance lets every stateful operator emit what stream time has closed,
// front to back so outputs flow through later operators.
func (t *Task) advance() error {
	var first error
	for i, op := range t.ops {
		if err := op.advance(t, i); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// run passes r through operators i.. and on to the output.
func (t *Task) run(i int, r Record) error {
	if i >= len(t.ops) {
		if t.plan.SinkKey != nil && r.Value != nil {
			k, err := t.eval(t.plan.SinkKey, len(t.plan.Job.Steps), r)
			if err != nil {
				return err
			}
			r.Key = k
		}
		t.stats.Out++
		t.emit(r)
		return nil
	}
	t.stats.StepIn[i]++
	return t.ops[i].process(t, i, r)
}

// eval runs prog with the record's fields, _key and _time in scope. The
// value map is borrowed: the two names are set for the call and restored.
func (t *Task) eval(p *plan.Prog, step int, r Record) (out any, err error) {
	m, ok := r.Value.(map[string]any)
	if !ok {
		m = t.env
		clear(m)
		m["value"] = r.Value
	}
	oldK, hadK := m[plan.KeyVar]
	oldT, hadT := m[plan.TimeVar]
	m[plan.KeyVar], m[plan.TimeVar] = r.Key, int(r.Time)
	defer func() {
		restore(m, plan.KeyVar, oldK, hadK)
		restore(m, plan.TimeVar, oldT, hadT)
		if x := recover(); x != nil {
			out, err = nil, &EvalError{Step: step, Src: p.Src.Src, Err: fmt.Errorf("panic: %v", x)}
		}
	}()
	out, err = expr.Run(p.Program, m)
	if err != nil {
		return nil, &EvalError{Step: step, Src: p.Src.Src, Err: err}
	}
	return out, nil
}

func restore(m map[string]any, k string, v any, had bool) {
	if had {
		m[k] = v
	} else {
		delete(m, k)
	}
}

type filterOp struct{ op *plan.Filter }

func (f filterOp) process(t *Task, i int, r Record) error {
	if r.Value == nil {
		return t.run(i+1, r) // tombstones pass: they delete downstream rows
	}
	v, err := t.eval(f.op.Pred, f.op.Step, r)
	if err != nil {
		return err
	}
	b, ok := v.(bool)
	if !ok {
		return &EvalError{Step: f.op.Step, Src: f.op.Pred.Src.Src, Err: fmt.Errorf("filter returned %T, not bool", v)}
	}
	if !b {
		return nil
	}
	return t.run(i+1, r)
}

func (filterOp) advance(*Task, int) error { return nil }

type mapOp struct{ op *plan.Map }

func (m mapOp) process(t *Task, i int, r Record) error {
	if r.Value == nil {
		return t.run(i+1, r)
	}
	out := make(map[string]any, len(m.op.Fields))
	for _, f := range m.op.Fields {
		v, err := t.eval(f.Prog, m.op.Step, r)
		if err != nil {
			return err
		}
		out[f.Name] = v
	}
	r.Value = out
	return t.run(i+1, r)
}

func (mapOp) advance(*Task, int) error { return nil }

type keyByOp struct{ op *plan.KeyBy }

func (k keyByOp) process(t *Task, i int, r Record) error {
	if r.Value == nil {
		return nil // a tombstone has nothing to compute a new key from
	}
	v, err := t.eval(k.op.Key, k.op.Step, r)
	if err != nil {
		return err
	}
	r.Key = v
	return t.run(i+1, r)
}

func (keyByOp) advance(*Task, int) error { return nil }

// KeyString is the canonical text of a key, used to group and join and as
// the key bytes written to Kafka.
func KeyString(k any) string {
	switch v := k.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}

// StateSize is the number of entries the task holds: open windows and
// sessions, buffered join records and table rows.
func (t *Task) StateSize() int64 {
	var n int64
	for _, op := range t.ops {
		switch o := op.(type) {
		case *aggOp:
			n += int64(len(o.groups))
			for _, s := range o.sessions {
				n += int64(len(s))
			}
		case *streamJoinOp:
			n += int64(o.expiry.Len())
		case *tableJoinOp:
			n += int64(len(o.table))
		}
	}
	return n
}
