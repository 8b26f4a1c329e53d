package runtime

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/spec"
)

// The fixtures below are written from the documented behaviour of Kafka
// Streams (windowing, grace, suppression, join semantics since 3.1) and
// ksqlDB (aggregate null handling). Times are milliseconds.

func compileJob(t testing.TB, src string) *plan.Plan {
	t.Helper()
	job, err := spec.Parse("job.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := plan.Compile("job.yaml", job)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

type in struct {
	src   int
	key   string
	value string // JSON; "" is a tombstone
	time  int64
}

// runJob feeds inputs to one task and renders each output as
// "key[start,end) @time value".
func runJob(t *testing.T, p *plan.Plan, inputs []in) ([]string, *Task) {
	t.Helper()
	var out []string
	task := NewTask(p, func(r Record) { out = append(out, render(r)) })
	for _, x := range inputs {
		r := Record{Key: x.key, Time: x.time}
		if x.value != "" {
			v, err := DecodeValue(p.Sources[x.src], []byte(x.value))
			if err != nil {
				t.Fatalf("decode %s: %v", x.value, err)
			}
			r.Value = v
		}
		if err := task.Process(x.src, r); err != nil {
			t.Fatalf("process %+v: %v", x, err)
		}
	}
	return out, task
}

func render(r Record) string {
	var b strings.Builder
	b.WriteString(KeyString(r.Key))
	if r.Window != nil {
		fmt.Fprintf(&b, "[%d,%d)", r.Window.Start, r.Window.End)
	}
	fmt.Fprintf(&b, " @%d ", r.Time)
	if r.Value == nil {
		b.WriteString("null")
	} else {
		if m, ok := r.Value.(map[string]any); ok {
			delete(m, "window_start")
			delete(m, "window_end")
		}
		j, _ := json.Marshal(r.Value)
		b.Write(j)
	}
	return b.String()
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("outputs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const countJob = `name: counts
sources: [{name: s, topic: in}]
steps:
  - window: %s
  - aggregate: {fields: {n: count}}
%s
sink: {topic: out}
`

func TestTumblingCountLateAfterGrace(t *testing.T) {
	p := compileJob(t, fmt.Sprintf(countJob, "{type: tumbling, size: 10s, grace: 5s}", ""))
	got, task := runJob(t, p, []in{
		{0, "a", `{}`, 1000},
		{0, "a", `{}`, 2000},
		{0, "a", `{}`, 11000},
		{0, "a", `{}`, 4000},  // stream time 11000 < 10000+5000: still accepted
		{0, "a", `{}`, 15000}, // closes [0,10000)
		{0, "a", `{}`, 9999},  // late: dropped
		{0, "b", `{}`, 10000}, // window start is inclusive
	})
	expect(t, got,
		`a[0,10000) @1000 {"n":1}`,
		`a[0,10000) @2000 {"n":2}`,
		`a[10000,20000) @11000 {"n":1}`,
		`a[0,10000) @4000 {"n":3}`,
		`a[10000,20000) @15000 {"n":2}`,
		`b[10000,20000) @10000 {"n":1}`,
	)
	if s := task.Stats(); s.Late != 1 {
		t.Fatalf("late = %d, want 1", s.Late)
	}
}

func TestHoppingCountLateAfterGrace(t *testing.T) {
	p := compileJob(t, fmt.Sprintf(countJob, "{type: hopping, size: 10s, advance: 5s, grace: 1s}", ""))
	got, task := runJob(t, p, []in{
		{0, "a", `{}`, 7000},  // [0,10000) and [5000,15000)
		{0, "a", `{}`, 12000}, // [5000,15000) and [10000,20000)
		{0, "a", `{}`, 8000},  // stream time 12000 < 10000+1000? no: [0,10000) is closed; [5000,15000) open
	})
	expect(t, got,
		`a[0,10000) @7000 {"n":1}`,
		`a[5000,15000) @7000 {"n":1}`,
		`a[5000,15000) @12000 {"n":2}`,
		`a[10000,20000) @12000 {"n":1}`,
		`a[5000,15000) @12000 {"n":3}`,
	)
	if s := task.Stats(); s.Late != 1 {
		t.Fatalf("late = %d, want 1 (one window dropped)", s.Late)
	}
}

func TestFinalEmissionTimingAndTimestamps(t *testing.T) {
	p := compileJob(t, fmt.Sprintf(countJob, "{type: tumbling, size: 10s, grace: 2s}", "  - emit: final"))
	var got []string
	task := NewTask(p, func(r Record) { got = append(got, render(r)) })
	feed := func(key string, ts int64) {
		t.Helper()
		if err := task.Process(0, Record{Key: key, Value: map[string]any{}, Time: ts}); err != nil {
			t.Fatal(err)
		}
	}
	feed("a", 1000)
	feed("a", 5000)
	feed("b", 3000)
	feed("a", 11000)
	feed("a", 11999)
	if len(got) != 0 {
		t.Fatalf("emitted before stream time reached end+grace: %v", got)
	}
	feed("c", 12000) // stream time = 10000 + 2000: [0,10000) closes
	expect(t, got,
		`a[0,10000) @5000 {"n":2}`,
		`b[0,10000) @3000 {"n":1}`,
	)
	got = nil
	feed("a", 9000) // late: never emitted again
	feed("a", 22000)
	expect(t, got,
		`a[10000,20000) @11999 {"n":2}`,
		`c[10000,20000) @12000 {"n":1}`,
	)
	if task.Stats().Late != 1 {
		t.Fatalf("late = %d", task.Stats().Late)
	}
}

func TestSessionMergeTombstones(t *testing.T) {
	p := compileJob(t, fmt.Sprintf(countJob, "{type: session, gap: 5s, grace: 10s}", ""))
	got, _ := runJob(t, p, []in{
		{0, "a", `{}`, 1000},
		{0, "a", `{}`, 10000},
		{0, "a", `{}`, 5500}, // within 5s of both sessions: they merge
		{0, "a", `{}`, 12000},
	})
	// Session windows carry [first, last] event time, as Kafka Streams' do.
	expect(t, got,
		`a[1000,1000) @1000 {"n":1}`,
		`a[10000,10000) @10000 {"n":1}`,
		`a[1000,1000) @10000 null`,
		`a[10000,10000) @10000 null`,
		`a[1000,10000) @10000 {"n":3}`,
		`a[1000,10000) @12000 null`,
		`a[1000,12000) @12000 {"n":4}`,
	)
}

func TestSessionFinal(t *testing.T) {
	p := compileJob(t, fmt.Sprintf(countJob, "{type: session, gap: 5s, grace: 1s}", "  - emit: final"))
	got, task := runJob(t, p, []in{
		{0, "a", `{}`, 1000},
		{0, "a", `{}`, 3000},
		{0, "a", `{}`, 9000},  // a new session; [1000,3000] closes after 3000+5000+1000
		{0, "b", `{}`, 9001},  // stream time 9001 > 9000: closes a[1000,3000]
		{0, "a", `{}`, 2000},  // late: its session would end before stream time - gap - grace
		{0, "a", `{}`, 30000}, // closes a[9000] and b[9001]
	})
	expect(t, got,
		`a[1000,3000) @3000 {"n":2}`,
		`a[9000,9000) @9000 {"n":1}`,
		`b[9001,9001) @9001 {"n":1}`,
	)
	if task.Stats().Late != 1 {
		t.Fatalf("late = %d", task.Stats().Late)
	}
}

func TestEveryAggregateWithNulls(t *testing.T) {
	p := compileJob(t, `name: aggs
sources: [{name: s, topic: in}]
steps:
  - aggregate:
      fields:
        n: count
        c: {fn: count, of: v}
        s: {fn: sum, of: v}
        a: {fn: avg, of: v}
        mn: {fn: min, of: v}
        mx: {fn: max, of: v}
        d: {fn: count_distinct, of: v}
        tk: {fn: topk, of: v, k: 2}
        col: {fn: collect, of: v}
        f: {fn: first, of: v}
        l: {fn: last, of: v}
sink: {topic: out}
`)
	got, _ := runJob(t, p, []in{
		{0, "k", `{"v": null}`, 1},
		{0, "k", `{"v": 3}`, 2},
		{0, "k", `{}`, 3},
		{0, "k", `{"v": 1}`, 4},
		{0, "k", `{"v": 3}`, 5},
		{0, "k", `{"v": null}`, 6},
	})
	expect(t, got,
		`k @1 {"a":null,"c":0,"col":[null],"d":0,"f":null,"l":null,"mn":null,"mx":null,"n":1,"s":0,"tk":[]}`,
		`k @2 {"a":3,"c":1,"col":[null,3],"d":1,"f":3,"l":3,"mn":3,"mx":3,"n":2,"s":3,"tk":[3]}`,
		`k @3 {"a":3,"c":1,"col":[null,3,null],"d":1,"f":3,"l":3,"mn":3,"mx":3,"n":3,"s":3,"tk":[3]}`,
		`k @4 {"a":2,"c":2,"col":[null,3,null,1],"d":2,"f":3,"l":1,"mn":1,"mx":3,"n":4,"s":4,"tk":[3,1]}`,
		`k @5 {"a":2.3333333333333335,"c":3,"col":[null,3,null,1,3],"d":2,"f":3,"l":3,"mn":1,"mx":3,"n":5,"s":7,"tk":[3,3]}`,
		`k @6 {"a":2.3333333333333335,"c":3,"col":[null,3,null,1,3,null],"d":2,"f":3,"l":3,"mn":1,"mx":3,"n":6,"s":7,"tk":[3,3]}`,
	)
}

const joinJob = `name: j
sources:
  - {name: l, topic: left}
  - {name: r, topic: right}
steps:
  - join: {with: r, type: %s, within: 5s}
sink: {topic: out}
`

func TestStreamStreamLeftJoinNullOnlyAfterWindowCloses(t *testing.T) {
	p := compileJob(t, fmt.Sprintf(joinJob, "left"))
	var got []string
	task := NewTask(p, func(r Record) { got = append(got, render(r)) })
	feed := func(src int, key, v string, ts int64) {
		t.Helper()
		val, err := DecodeValue(p.Sources[src], []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Process(src, Record{Key: key, Value: val, Time: ts}); err != nil {
			t.Fatal(err)
		}
	}
	feed(0, "k", `{"l":1}`, 1000)
	feed(0, "j", `{"l":2}`, 2000)
	feed(1, "k", `{"r":1}`, 3000) // joins k@1000
	expect(t, got, `k @3000 {"left":{"l":1},"right":{"r":1}}`)
	got = nil
	feed(0, "x", `{"l":3}`, 7000) // stream time 7000 = 2000 + 5000: j's window still open
	if len(got) != 0 {
		t.Fatalf("left+null emitted before the window closed: %v", got)
	}
	feed(1, "j", `{"r":2}`, 7000) // still joins j@2000 (difference 5000 = within)
	expect(t, got, `j @7000 {"left":{"l":2},"right":{"r":2}}`)
	got = nil
	feed(0, "y", `{"l":4}`, 7001)
	feed(0, "z", `{"l":5}`, 12002) // closes x@7000 and y@7001: unmatched, emitted with null
	expect(t, got,
		`x @7000 {"left":{"l":3},"right":null}`,
		`y @7001 {"left":{"l":4},"right":null}`,
	)
}

func TestStreamStreamInnerAndOuterJoin(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"inner", []string{`k @2000 {"left":{"l":1},"right":{"r":1}}`}},
		{"outer", []string{
			`k @2000 {"left":{"l":1},"right":{"r":1}}`,
			`q @3000 {"left":null,"right":{"r":2}}`,
			`j @9000 {"left":{"l":2},"right":null}`,
		}},
	} {
		p := compileJob(t, fmt.Sprintf(joinJob, tc.typ))
		got, _ := runJob(t, p, []in{
			{0, "k", `{"l":1}`, 1000},
			{1, "k", `{"r":1}`, 2000},
			{1, "q", `{"r":2}`, 3000},
			{0, "j", `{"l":2}`, 9000},
			{0, "k", `{"l":3}`, 20000},
		})
		expect(t, got, tc.want...)
	}
}

func TestStreamTableJoin(t *testing.T) {
	const job = `name: enrich
sources:
  - {name: clicks, topic: clicks}
  - {name: users, topic: users, as: table}
steps:
  - join:
      with: users
      type: %s
      select: {page: left.page, user: "right == nil ? nil : right.name"}
sink: {topic: out}
`
	inputs := []in{
		{0, "u1", `{"page":"/a"}`, 1000}, // table empty
		{1, "u1", `{"name":"ann"}`, 500},
		{0, "u1", `{"page":"/b"}`, 2000},
		{0, "u2", `{"page":"/c"}`, 3000},
		{1, "u1", "", 600}, // tombstone deletes u1
		{0, "u1", `{"page":"/d"}`, 4000},
	}
	got, _ := runJob(t, compileJob(t, fmt.Sprintf(job, "inner")), inputs)
	expect(t, got, `u1 @2000 {"page":"/b","user":"ann"}`)
	got, _ = runJob(t, compileJob(t, fmt.Sprintf(job, "left")), inputs)
	expect(t, got,
		`u1 @1000 {"page":"/a","user":null}`,
		`u1 @2000 {"page":"/b","user":"ann"}`,
		`u2 @3000 {"page":"/c","user":null}`,
		`u1 @4000 {"page":"/d","user":null}`,
	)
}

func TestRunTimeErrorLeavesTaskUsable(t *testing.T) {
	p := compileJob(t, `name: e
sources: [{name: s, topic: in}]
steps:
  - filter: price > 10
  - map: {half: price / 2}
sink: {topic: out}
`)
	var got []string
	task := NewTask(p, func(r Record) { got = append(got, render(r)) })
	err := task.Process(0, Record{Key: "a", Value: map[string]any{"price": "x"}, Time: 1})
	var ee *EvalError
	if !errorsAs(err, &ee) || ee.Step != 0 {
		t.Fatalf("err = %v, want an EvalError at step 0", err)
	}
	if err := task.Process(0, Record{Key: "a", Value: map[string]any{"price": 20.0}, Time: 2}); err != nil {
		t.Fatal(err)
	}
	expect(t, got, `a @2 {"half":10}`)
}
