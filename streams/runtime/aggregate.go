package runtime

import (
	"container/heap"
	"sort"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/spec"
)

// group is the state of one key in one window.
type group struct {
	key     any
	skey    string
	bounds  Bounds
	accs    []acc
	maxTime int64 // output timestamp: the newest record in the group
	dead    bool  // merged into another session
	seq     int64 // creation order, kept across restores
	stored  bool  // written to the changelog: deleting it needs a tombstone
}

type gkey struct {
	key   string
	start int64
}

// aggOp implements Kafka Streams' windowed aggregation: a window accepts
// records while stream time < end + grace (sessions: last + gap + grace);
// later records are dropped and counted as late. Final emission happens
// when stream time closes the window; changes emission on every update.
type aggOp struct {
	op     *plan.Aggregate
	final  bool
	groups map[gkey]*group
	// Time windows close in order of their end.
	ends  int64Heap
	byEnd map[int64][]*group
	// Sessions per key, sorted by start, and a heap of their ends.
	sessions map[string][]*group
	sheap    sessHeap
	vals     []any
}

func newAggOp(op *plan.Aggregate) *aggOp {
	return &aggOp{
		op: op, final: op.Emit == spec.EmitFinal,
		groups: map[gkey]*group{}, byEnd: map[int64][]*group{}, sessions: map[string][]*group{},
		vals: make([]any, len(op.Fields)),
	}
}

func (a *aggOp) newGroup(t *Task, key any, skey string, b Bounds) *group {
	t.seq++
	g := &group{key: key, skey: skey, bounds: b, maxTime: b.Start, seq: t.seq}
	for _, f := range a.op.Fields {
		g.accs = append(g.accs, newAcc(f.Fn, f.K, f.Of == nil))
	}
	return g
}

func (a *aggOp) process(t *Task, i int, r Record) error {
	if r.Value == nil {
		return nil // Kafka Streams' aggregations skip null values
	}
	key := r.Key
	if a.op.GroupBy != nil {
		k, err := t.eval(a.op.GroupBy, a.op.Step, r)
		if err != nil {
			return err
		}
		key = k
	}
	// Evaluate and check everything before touching state, so a failing
	// record leaves no partial update behind.
	for n, f := range a.op.Fields {
		a.vals[n] = nil
		if f.Of == nil {
			continue
		}
		v, err := t.eval(f.Of, a.op.Step, r)
		if err != nil {
			return err
		}
		a.vals[n] = v
	}
	skey := KeyString(key)
	w := a.op.Window
	switch {
	case w == nil:
		g := a.groups[gkey{key: skey}]
		if g == nil {
			g = a.newGroup(t, key, skey, Bounds{})
			g.maxTime = r.Time
		}
		if err := a.check(t, g); err != nil {
			return err
		}
		a.groups[gkey{key: skey}] = g
		a.add(g, r.Time)
		t.dirty[dirtyRef{op: i, g: g}] = true
		return t.run(i+1, a.output(g))
	case w.Type == spec.Session:
		return a.session(t, i, r, key, skey)
	}
	// Tumbling and hopping: every window [start, start+size) holding r.Time,
	// oldest first.
	last := r.Time - mod(r.Time, w.Advance)
	var first error
	for start := last - ((w.Size-1)/w.Advance)*w.Advance; start <= last; start += w.Advance {
		if start+w.Size <= r.Time {
			continue
		}
		end := start + w.Size
		if end+w.Grace <= t.streamTime {
			t.stats.Late++
			continue
		}
		gk := gkey{skey, start}
		g := a.groups[gk]
		if g == nil {
			g = a.newGroup(t, key, skey, Bounds{start, end})
		}
		if err := a.check(t, g); err != nil {
			return err
		}
		if a.groups[gk] == nil {
			a.groups[gk] = g
			if a.byEnd[end] == nil {
				heap.Push(&a.ends, end)
			}
			a.byEnd[end] = append(a.byEnd[end], g)
		}
		a.add(g, r.Time)
		t.dirty[dirtyRef{op: i, g: g}] = true
		if !a.final {
			if err := t.run(i+1, a.output(g)); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func mod(x, m int64) int64 { return ((x % m) + m) % m }

func (a *aggOp) check(t *Task, g *group) error {
	for n, ac := range g.accs {
		if err := ac.check(a.vals[n]); err != nil {
			return &EvalError{Step: a.op.Step, Src: a.op.Fields[n].Of.Src.Src, Err: err}
		}
	}
	return nil
}

func (a *aggOp) add(g *group, ts int64) {
	for n, ac := range g.accs {
		ac.add(a.vals[n])
	}
	if ts > g.maxTime {
		g.maxTime = ts
	}
}

func (a *aggOp) output(g *group) Record {
	m := make(map[string]any, len(g.accs)+2)
	r := Record{Key: g.key, Value: m, Time: g.maxTime}
	if a.op.Window != nil {
		b := g.bounds
		r.Window = &b
		m["window_start"], m["window_end"] = int(b.Start), int(b.End)
	}
	for n, ac := range g.accs {
		m[a.op.Fields[n].Name] = ac.result()
	}
	return r
}

// session merges r into every session of its key within gap of r.Time.
func (a *aggOp) session(t *Task, i int, r Record, key any, skey string) error {
	w := a.op.Window
	list := a.sessions[skey]
	b := Bounds{r.Time, r.Time}
	var merged []*group
	for _, g := range list {
		if g.bounds.End >= r.Time-w.Gap && g.bounds.Start <= r.Time+w.Gap {
			merged = append(merged, g)
			b.Start = min(b.Start, g.bounds.Start)
			b.End = max(b.End, g.bounds.End)
		}
	}
	if b.End+w.Gap+w.Grace < t.streamTime {
		t.stats.Late++
		return nil
	}
	ng := a.newGroup(t, key, skey, b)
	for _, g := range merged {
		for n := range ng.accs {
			ng.accs[n].merge(g.accs[n])
		}
		ng.maxTime = max(ng.maxTime, g.maxTime)
	}
	if err := a.check(t, ng); err != nil {
		return err
	}
	a.add(ng, r.Time)
	rest := list[:0:0]
	for _, g := range list {
		if !containsGroup(merged, g) {
			rest = append(rest, g)
		}
	}
	rest = append(rest, ng)
	sort.Slice(rest, func(x, y int) bool { return rest[x].bounds.Start < rest[y].bounds.Start })
	a.sessions[skey] = rest
	heap.Push(&a.sheap, sessEntry{end: b.End, g: ng})
	for _, g := range merged {
		t.dirty[dirtyRef{op: i, g: g}] = false
	}
	t.dirty[dirtyRef{op: i, g: ng}] = true
	var first error
	for _, g := range merged {
		g.dead = true
		if !a.final && g.bounds != b {
			// The superseded session's row is deleted downstream.
			gb := g.bounds
			if err := t.run(i+1, Record{Key: g.key, Time: ng.maxTime, Window: &gb}); err != nil && first == nil {
				first = err
			}
		}
	}
	if !a.final {
		if err := t.run(i+1, a.output(ng)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func containsGroup(gs []*group, g *group) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

func (a *aggOp) advance(t *Task, i int) error {
	w := a.op.Window
	if w == nil {
		return nil
	}
	var first error
	emit := func(g *group) {
		if a.final {
			if err := t.run(i+1, a.output(g)); err != nil && first == nil {
				first = err
			}
		}
	}
	if w.Type == spec.Session {
		for a.sheap.Len() > 0 && a.sheap[0].end+w.Gap+w.Grace < t.streamTime {
			e := heap.Pop(&a.sheap).(sessEntry)
			if e.g.dead {
				continue
			}
			list := a.sessions[e.g.skey]
			for n, g := range list {
				if g == e.g {
					list = append(list[:n], list[n+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(a.sessions, e.g.skey)
			} else {
				a.sessions[e.g.skey] = list
			}
			t.dirty[dirtyRef{op: i, g: e.g}] = false
			emit(e.g)
		}
		return first
	}
	for a.ends.Len() > 0 && a.ends[0]+w.Grace <= t.streamTime {
		end := heap.Pop(&a.ends).(int64)
		for _, g := range a.byEnd[end] {
			delete(a.groups, gkey{g.skey, g.bounds.Start})
			t.dirty[dirtyRef{op: i, g: g}] = false
			emit(g)
		}
		delete(a.byEnd, end)
	}
	return first
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type sessEntry struct {
	end int64
	g   *group
}

type sessHeap []sessEntry

func (h sessHeap) Len() int { return len(h) }
func (h sessHeap) Less(i, j int) bool {
	if h[i].end != h[j].end {
		return h[i].end < h[j].end
	}
	return h[i].g.seq < h[j].g.seq
}
func (h sessHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sessHeap) Push(x any)   { *h = append(*h, x.(sessEntry)) }
func (h *sessHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
