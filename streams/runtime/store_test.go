package runtime

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/streams/plan"
)

// A task whose store changes after any input were written to a
// changelog, and then restored from it, goes on exactly as the original
// would have; changes written after the last consistent point (an
// instance that died mid-write) are ignored and overwritten.
func TestStoreRestoreAtEveryPoint(t *testing.T) {
	window := func(w, emit string) string { return fmt.Sprintf(countJob, w, emit) }
	cases := []struct {
		name, job string
		inputs    []in
	}{
		{"tumbling final", window("{type: tumbling, size: 10s, grace: 2s}", "  - emit: final"), []in{
			{0, "a", `{}`, 1000}, {0, "b", `{}`, 3000}, {0, "a", `{}`, 11000}, {0, "a", `{}`, 12000}, {0, "a", `{}`, 9000}, {0, "c", `{}`, 30000},
		}},
		{"hopping", window("{type: hopping, size: 10s, advance: 5s, grace: 1s}", ""), []in{
			{0, "a", `{}`, 7000}, {0, "a", `{}`, 12000}, {0, "a", `{}`, 8000}, {0, "b", `{}`, 21000},
		}},
		{"session", window("{type: session, gap: 5s, grace: 10s}", ""), []in{
			{0, "a", `{}`, 1000}, {0, "a", `{}`, 10000}, {0, "a", `{}`, 5500}, {0, "a", `{}`, 40000},
		}},
		{"left join", fmt.Sprintf(joinJob, "outer"), []in{
			{0, "k", `{"l":1}`, 1000}, {1, "k", `{"r":1}`, 2000}, {1, "q", `{"r":2}`, 3000}, {0, "j", `{"l":2}`, 9000}, {0, "k", `{"l":3}`, 20000},
		}},
		{"table join", `name: enrich
sources:
  - {name: clicks, topic: clicks}
  - {name: users, topic: users, as: table}
steps:
  - join: {with: users, type: left, select: {page: left.page, user: "right == nil ? nil : right.name"}}
sink: {topic: out}
`, []in{
			{1, "u1", `{"name":"ann"}`, 500}, {0, "u1", `{"page":"/a"}`, 1000}, {1, "u2", `{"name":"bob"}`, 600},
			{1, "u1", "", 700}, {0, "u1", `{"page":"/b"}`, 2000}, {0, "u2", `{"page":"/c"}`, 3000},
		}},
		{"running aggregate by group", `name: byuser
sources: [{name: s, topic: in}]
steps:
  - aggregate: {group_by: u, fields: {n: count, first: {fn: first, of: v}, last: {fn: last, of: v}}}
sink: {topic: out}
`, []in{{0, "k", `{"u": "a/b", "v": 1}`, 1}, {0, "k", `{"u": "c", "v": 2}`, 2}, {0, "k", `{"u": "a/b", "v": 3}`, 3}}},
		{"aggregates", `name: aggs
sources: [{name: s, topic: in}]
steps:
  - aggregate:
      fields:
        d: {fn: count_distinct, of: v}
        tk: {fn: topk, of: v, k: 2}
        col: {fn: collect, of: v}
        a: {fn: avg, of: v}
        mx: {fn: max, of: v}
sink: {topic: out}
`, []in{{0, "k", `{"v": null}`, 1}, {0, "k", `{"v": 3}`, 2}, {0, "k", `{"v": 1}`, 4}, {0, "k", `{"v": 3}`, 5}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compileJob(t, tc.job)
			want, _ := runJob(t, p, tc.inputs)
			for cut := 0; cut <= len(tc.inputs); cut++ {
				var got []string
				emit := func(r Record) { got = append(got, render(r)) }
				a := NewTask(p, emit)
				log := map[string][]byte{} // the compacted changelog, per key
				write := func(task *Task) {
					changes, err := task.Changes()
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range changes {
						if c.Value == nil {
							delete(log, c.Key)
						} else {
							log[c.Key] = c.Value
						}
					}
				}
				// Consistent points after every input up to cut.
				for _, x := range tc.inputs[:cut] {
					feedAll(t, p, a, []in{x})
					write(a)
				}
				meta := a.Meta()
				// A's later changes never reach a consistent point.
				spill := NewTask(p, func(Record) {})
				feedAll(t, p, spill, tc.inputs)
				orphans, _ := spill.Changes()
				var keys []string
				for _, o := range orphans {
					keys = append(keys, o.Key)
				}
				b := NewTask(p, emit)
				if err := b.Load(log, meta); err != nil {
					t.Fatal(err)
				}
				b.Forget(keys)
				write(b) // overwrites the orphans with the restored values
				feedAll(t, p, b, tc.inputs[cut:])
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("restored after %d inputs:\n%s\nwant:\n%s", cut, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				// And a task loaded from the changelog as it is now holds
				// the same state as b.
				write(b)
				c := NewTask(p, func(Record) {})
				if err := c.Load(log, b.Meta()); err != nil {
					t.Fatal(err)
				}
				if c.StateSize() != b.StateSize() {
					t.Fatalf("after %d inputs: reloaded task holds %d entries, live one %d", cut, c.StateSize(), b.StateSize())
				}
			}
		})
	}
}

func feedAll(t *testing.T, p *plan.Plan, task *Task, inputs []in) {
	t.Helper()
	for _, x := range inputs {
		r := Record{Key: x.key, Time: x.time}
		if x.value != "" {
			v, err := DecodeValue(p.Sources[x.src], []byte(x.value))
			if err != nil {
				t.Fatal(err)
			}
			r.Value = v
		}
		if err := task.Process(x.src, r); err != nil {
			t.Fatal(err)
		}
	}
}
