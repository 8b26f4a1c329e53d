package runtime

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/sluicehq/sluice/streams/spec"
)

// A snapshot is a task's whole state as JSON, so a task can move to another
// instance. The runner stores it in a compacted changelog topic together
// with the input offsets it reflects (see changelog.go).

type accState struct {
	N    int       `json:"n,omitempty"`
	S    float64   `json:"s,omitempty"`
	V    any       `json:"v,omitempty"`
	Seen []string  `json:"seen,omitempty"`
	Vals []any     `json:"vals,omitempty"`
	Top  []float64 `json:"top,omitempty"`
}

type groupState struct {
	Key     any        `json:"key"`
	Start   int64      `json:"start"`
	End     int64      `json:"end"`
	MaxTime int64      `json:"max_time"`
	Accs    []accState `json:"accs"`
}

type entryState struct {
	Side    int   `json:"side"`
	Key     any   `json:"key"`
	Value   any   `json:"value"`
	Time    int64 `json:"time"`
	Matched bool  `json:"matched,omitempty"`
}

type opState struct {
	Groups  []groupState   `json:"groups,omitempty"`
	Entries []entryState   `json:"entries,omitempty"`
	Table   map[string]any `json:"table,omitempty"`
}

type taskState0 struct {
	StreamTime int64     `json:"stream_time"`
	Ops        []opState `json:"ops"`
}

func saveAcc(a acc) accState {
	switch x := a.(type) {
	case *countAcc:
		return accState{N: x.n}
	case *sumAcc:
		return accState{S: x.s}
	case *avgAcc:
		return accState{S: x.s, N: x.n}
	case *extAcc:
		return accState{V: x.v}
	case *distinctAcc:
		s := accState{Seen: make([]string, 0, len(x.seen))}
		for k := range x.seen {
			s.Seen = append(s.Seen, k)
		}
		return s
	case *topkAcc:
		return accState{Top: x.vals}
	case *collectAcc:
		return accState{Vals: x.vals, N: len(x.vals)}
	case *firstAcc:
		return accState{V: x.v}
	case *lastAcc:
		return accState{V: x.v}
	}
	return accState{}
}

func loadAcc(a acc, s accState) {
	switch x := a.(type) {
	case *countAcc:
		x.n = s.N
	case *sumAcc:
		x.s = s.S
	case *avgAcc:
		x.s, x.n = s.S, s.N
	case *extAcc:
		x.v = s.V
	case *distinctAcc:
		for _, k := range s.Seen {
			x.seen[k] = struct{}{}
		}
	case *topkAcc:
		x.vals = s.Top
	case *collectAcc:
		// omitempty drops an all-null list's length; N restores it.
		x.vals = s.Vals
		for len(x.vals) < s.N {
			x.vals = append(x.vals, nil)
		}
	case *firstAcc:
		x.v = s.V
	case *lastAcc:
		x.v = s.V
	}
}

// Snapshot encodes the task's state.
func (t *Task) Snapshot() ([]byte, error) {
	st := taskState0{StreamTime: t.streamTime, Ops: make([]opState, len(t.ops))}
	for i, op := range t.ops {
		switch o := op.(type) {
		case *aggOp:
			save := func(g *group) {
				gs := groupState{Key: g.key, Start: g.bounds.Start, End: g.bounds.End, MaxTime: g.maxTime}
				for _, a := range g.accs {
					gs.Accs = append(gs.Accs, saveAcc(a))
				}
				st.Ops[i].Groups = append(st.Ops[i].Groups, gs)
			}
			if o.op.Window == nil {
				for _, g := range o.groups {
					save(g)
				}
			}
			// Windows in closing order, each end's in arrival order, so a
			// restored task emits in the same order as the original.
			ends := append(int64Heap(nil), o.ends...)
			sort.Slice(ends, func(a, b int) bool { return ends[a] < ends[b] })
			for _, end := range ends {
				for _, g := range o.byEnd[end] {
					save(g)
				}
			}
			for _, list := range o.sessions {
				for _, g := range list {
					save(g)
				}
			}
		case *streamJoinOp:
			for _, e := range o.expiry {
				st.Ops[i].Entries = append(st.Ops[i].Entries, entryState{Side: e.side, Key: e.key, Value: e.value, Time: e.time, Matched: e.matched})
			}
		case *tableJoinOp:
			st.Ops[i].Table = o.table
		}
	}
	return json.Marshal(st)
}

// Restore replaces the state of a new task with a snapshot of a task of
// the same plan.
func (t *Task) Restore(b []byte) error {
	var st taskState0
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // integers come back as ints, as they went in
	if err := d.Decode(&st); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(st.Ops) != len(t.ops) {
		return fmt.Errorf("restore: snapshot has %d operators, the job %d", len(st.Ops), len(t.ops))
	}
	t.streamTime = st.StreamTime
	for i, op := range t.ops {
		s := st.Ops[i]
		switch o := op.(type) {
		case *aggOp:
			for _, gs := range s.Groups {
				gs.Key = numbers(gs.Key)
				for n := range gs.Accs {
					gs.Accs[n].V = numbers(gs.Accs[n].V)
					gs.Accs[n].Vals, _ = numbers(gs.Accs[n].Vals).([]any)
				}
				skey := KeyString(gs.Key)
				g := o.newGroup(gs.Key, skey, Bounds{gs.Start, gs.End})
				g.maxTime = gs.MaxTime
				if len(gs.Accs) != len(g.accs) {
					return fmt.Errorf("restore: aggregate with %d fields, the job has %d", len(gs.Accs), len(g.accs))
				}
				for n, a := range gs.Accs {
					loadAcc(g.accs[n], a)
				}
				w := o.op.Window
				switch {
				case w == nil:
					o.groups[gkey{key: skey}] = g
				case w.Type == spec.Session:
					o.sessions[skey] = append(o.sessions[skey], g) // saved sorted by start
					heap.Push(&o.sheap, sessEntry{end: g.bounds.End, g: g})
				default:
					o.groups[gkey{skey, g.bounds.Start}] = g
					if o.byEnd[g.bounds.End] == nil {
						heap.Push(&o.ends, g.bounds.End)
					}
					o.byEnd[g.bounds.End] = append(o.byEnd[g.bounds.End], g)
				}
			}
		case *streamJoinOp:
			for _, es := range s.Entries {
				es.Key, es.Value = numbers(es.Key), numbers(es.Value)
				e := &joinEntry{side: es.Side, key: es.Key, skey: KeyString(es.Key), value: es.Value, time: es.Time, matched: es.Matched}
				o.buf[e.side][e.skey] = append(o.buf[e.side][e.skey], e)
				heap.Push(&o.expiry, e)
			}
		case *tableJoinOp:
			for k, v := range s.Table {
				o.table[k] = numbers(v)
			}
		}
	}
	return nil
}

// Stateful reports whether the task keeps state between records.
func (t *Task) Stateful() bool {
	for _, op := range t.ops {
		switch op.(type) {
		case *aggOp, *streamJoinOp, *tableJoinOp:
			return true
		}
	}
	return false
}
