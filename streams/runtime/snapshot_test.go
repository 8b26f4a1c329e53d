package runtime

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/streams/plan"
)

// A task restored from a snapshot taken after any input goes on exactly as
// the original would have.
func TestSnapshotRestoreAtEveryPoint(t *testing.T) {
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
				feedAll(t, p, a, tc.inputs[:cut])
				snap, err := a.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				b := NewTask(p, emit)
				if err := b.Restore(snap); err != nil {
					t.Fatal(err)
				}
				feedAll(t, p, b, tc.inputs[cut:])
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("restored after %d inputs:\n%s\nwant:\n%s", cut, strings.Join(got, "\n"), strings.Join(want, "\n"))
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
