package runtime

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/streams/spec"
)

// A task's state lives in local in-memory stores (the operators' windows,
// sessions, join buffers and table rows), each entry under a store key.
// Every change to an entry is recorded in Task.dirty; the runner drains
// the changes with Changes and writes them as one changelog record per key
// (a tombstone for a deleted entry) to a compacted topic, as Kafka Streams
// backs each state store with a changelog. A task that moves to another
// instance rebuilds its stores from those records with Load.
//
// Store keys are "<op>/<kind>/<id>": kind g (a window, session or
// unwindowed group: id = "<start>/<group key>"), j (a buffered join
// record: its sequence number) or t (a table row: its key). The group key
// comes last, so it may contain '/'.

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
	Seq     int64      `json:"seq"`
	Accs    []accState `json:"accs"`
}

type entryState struct {
	Side    int   `json:"side"`
	Key     any   `json:"key"`
	Value   any   `json:"value"`
	Time    int64 `json:"time"`
	Seq     int64 `json:"seq"`
	Matched bool  `json:"matched,omitempty"`
}

// dirtyRef names a changed store entry without building its key on the
// hot path: a group or join entry by pointer, a table row by its key, or
// (op < 0) a raw store key to rewrite from whatever the task holds.
type dirtyRef struct {
	op  int
	g   *group
	e   *joinEntry
	row string
}

// StoreEntry is one changed store key; a nil Value deletes it.
type StoreEntry struct {
	Key   string
	Value []byte
}

// TaskMeta is what a task's stores are consistent with: its stream time
// and the next sequence number. The runner stores it, with the input
// offsets, after each batch of changes.
type TaskMeta struct {
	StreamTime int64 `json:"stream_time"`
	Seq        int64 `json:"seq"`
}

// Meta returns the task's stream time and sequence counter.
func (t *Task) Meta() TaskMeta { return TaskMeta{StreamTime: t.streamTime, Seq: t.seq} }

// Changes returns the store entries changed since the last call, sorted by
// key, and forgets them.
func (t *Task) Changes() ([]StoreEntry, error) {
	byKey := make(map[string][]byte, len(t.dirty))
	// Deletions first: a merged session may live on under a deleted one's key.
	for _, live := range []bool{false, true} {
		for ref, l := range t.dirty {
			if l != live {
				continue
			}
			if !live && (ref.g != nil && !ref.g.stored || ref.e != nil && !ref.e.stored) {
				continue // created and deleted between two writes: never stored
			}
			k, v, err := t.entry(ref, live)
			if err != nil {
				return nil, fmt.Errorf("store key %q: %w", k, err)
			}
			byKey[k] = v
		}
	}
	clear(t.dirty)
	out := make([]StoreEntry, 0, len(byKey))
	for k, v := range byKey {
		out = append(out, StoreEntry{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// entry is the store key and encoded value (nil: deleted) of ref.
func (t *Task) entry(ref dirtyRef, live bool) (string, []byte, error) {
	switch {
	case ref.op < 0:
		parts := strings.SplitN(ref.row, "/", 3)
		if x := t.lookup(parts); x != nil {
			return t.entry(*x, true)
		}
		return ref.row, nil, nil
	case ref.g != nil:
		k := fmt.Sprintf("%d/g/%d/%s", ref.op, ref.g.bounds.Start, ref.g.skey)
		if !live {
			return k, nil, nil
		}
		g := ref.g
		g.stored = true
		gs := groupState{Key: g.key, Start: g.bounds.Start, End: g.bounds.End, MaxTime: g.maxTime, Seq: g.seq}
		for _, a := range g.accs {
			gs.Accs = append(gs.Accs, saveAcc(a))
		}
		b, err := json.Marshal(gs)
		return k, b, err
	case ref.e != nil:
		k := fmt.Sprintf("%d/j/%d", ref.op, ref.e.seq)
		if !live {
			return k, nil, nil
		}
		e := ref.e
		e.stored = true
		b, err := json.Marshal(entryState{Side: e.side, Key: e.key, Value: e.value, Time: e.time, Seq: e.seq, Matched: e.matched})
		return k, b, err
	default:
		k := fmt.Sprintf("%d/t/%s", ref.op, ref.row)
		row, ok := t.ops[ref.op].(*tableJoinOp).table[ref.row]
		if !live || !ok {
			return k, nil, nil
		}
		b, err := json.Marshal(row)
		return k, b, err
	}
}

// Dirty reports whether the stores changed since the last Changes call.
func (t *Task) Dirty() bool { return len(t.dirty) > 0 }

// Load fills the stores of a new task from the latest value of every store
// key (as read back from the changelog) and meta.
func (t *Task) Load(entries map[string][]byte, meta TaskMeta) error {
	t.streamTime, t.seq = meta.StreamTime, meta.Seq
	// Groups in creation order, so windows closing together emit in the
	// order the original task would have.
	type loaded struct {
		op int
		g  *group
	}
	var groups []loaded
	for k, v := range entries {
		parts := strings.SplitN(k, "/", 3)
		if len(parts) < 3 {
			return fmt.Errorf("load: bad store key %q", k)
		}
		op, err := strconv.Atoi(parts[0])
		if err != nil || op < 0 || op >= len(t.ops) {
			return fmt.Errorf("load: store key %q: no such operator", k)
		}
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber() // integers come back as ints, as they went in
		switch o := t.ops[op].(type) {
		case *aggOp:
			var gs groupState
			if err := d.Decode(&gs); err != nil {
				return fmt.Errorf("load %q: %w", k, err)
			}
			gs.Key = numbers(gs.Key)
			for n := range gs.Accs {
				gs.Accs[n].V = numbers(gs.Accs[n].V)
				gs.Accs[n].Vals, _ = numbers(gs.Accs[n].Vals).([]any)
			}
			g := &group{key: gs.Key, skey: KeyString(gs.Key), bounds: Bounds{gs.Start, gs.End}, maxTime: gs.MaxTime, seq: gs.Seq, stored: true}
			for _, f := range o.op.Fields {
				g.accs = append(g.accs, newAcc(f.Fn, f.K, f.Of == nil))
			}
			if len(gs.Accs) != len(g.accs) {
				return fmt.Errorf("load %q: aggregate with %d fields, the job has %d", k, len(gs.Accs), len(g.accs))
			}
			for n, a := range gs.Accs {
				loadAcc(g.accs[n], a)
			}
			groups = append(groups, loaded{op, g})
		case *streamJoinOp:
			var es entryState
			if err := d.Decode(&es); err != nil {
				return fmt.Errorf("load %q: %w", k, err)
			}
			es.Key, es.Value = numbers(es.Key), numbers(es.Value)
			e := &joinEntry{side: es.Side, key: es.Key, skey: KeyString(es.Key), value: es.Value, time: es.Time, matched: es.Matched, seq: es.Seq, stored: true}
			if e.side != 0 && e.side != 1 {
				return fmt.Errorf("load %q: bad join side %d", k, e.side)
			}
			o.buf[e.side][e.skey] = append(o.buf[e.side][e.skey], e)
			heap.Push(&o.expiry, e)
		case *tableJoinOp:
			var row any
			if err := d.Decode(&row); err != nil {
				return fmt.Errorf("load %q: %w", k, err)
			}
			o.table[strings.TrimPrefix(k, parts[0]+"/t/")] = numbers(row)
		default:
			return fmt.Errorf("load: store key %q: operator %d keeps no state", k, op)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].g.seq < groups[j].g.seq })
	for _, l := range groups {
		o := t.ops[l.op].(*aggOp)
		g := l.g
		w := o.op.Window
		switch {
		case w == nil:
			o.groups[gkey{key: g.skey}] = g
		case w.Type == spec.Session:
			list := append(o.sessions[g.skey], g)
			sort.Slice(list, func(x, y int) bool { return list[x].bounds.Start < list[y].bounds.Start })
			o.sessions[g.skey] = list
			heap.Push(&o.sheap, sessEntry{end: g.bounds.End, g: g})
		default:
			o.groups[gkey{g.skey, g.bounds.Start}] = g
			if o.byEnd[g.bounds.End] == nil {
				heap.Push(&o.ends, g.bounds.End)
			}
			o.byEnd[g.bounds.End] = append(o.byEnd[g.bounds.End], g)
		}
	}
	// Join buffers in arrival order per key, as the original appended them.
	for _, op := range t.ops {
		if o, ok := op.(*streamJoinOp); ok {
			for side := range o.buf {
				for _, list := range o.buf[side] {
					sort.Slice(list, func(x, y int) bool { return list[x].seq < list[y].seq })
				}
			}
		}
	}
	return nil
}

// Forget marks store keys as changed so that the next Changes call writes
// their current value (or a tombstone): a restoring runner uses it for
// keys written to the changelog after the last consistent point, which
// the restored task does not hold.
func (t *Task) Forget(keys []string) {
	for _, k := range keys {
		t.dirty[dirtyRef{op: -1, row: k}] = true
	}
}

// lookup finds the live entry under a store key split in three, or nil.
func (t *Task) lookup(parts []string) *dirtyRef {
	if len(parts) < 3 {
		return nil
	}
	op, err := strconv.Atoi(parts[0])
	if err != nil || op < 0 || op >= len(t.ops) {
		return nil
	}
	id := parts[2]
	switch o := t.ops[op].(type) {
	case *aggOp:
		startS, skey, ok := strings.Cut(id, "/")
		start, err := strconv.ParseInt(startS, 10, 64)
		if !ok || err != nil {
			return nil
		}
		w := o.op.Window
		var g *group
		switch {
		case w == nil:
			g = o.groups[gkey{key: skey}]
		case w.Type == spec.Session:
			for _, s := range o.sessions[skey] {
				if s.bounds.Start == start {
					g = s
				}
			}
		default:
			g = o.groups[gkey{skey, start}]
		}
		if g != nil {
			return &dirtyRef{op: op, g: g}
		}
	case *streamJoinOp:
		seq, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil
		}
		for _, e := range o.expiry {
			if e.seq == seq {
				return &dirtyRef{op: op, e: e}
			}
		}
	case *tableJoinOp:
		if _, ok := o.table[id]; ok {
			return &dirtyRef{op: op, row: id}
		}
	}
	return nil
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
		sort.Strings(s.Seen)
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
