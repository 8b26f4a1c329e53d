package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/streams/spec"
)

func compile(t *testing.T, src string) (*Plan, error) {
	t.Helper()
	job, err := spec.Parse("job.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Compile("job.yaml", job)
}

const typed = `name: t
sources:
  - name: bids
    topic: bids
    value: {format: json, fields: {auction: int, price: float, bidder: string}}
steps:
%s
sink: {topic: out}
`

func TestCompileErrorsHavePositions(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		want        string // "line:col: ...message fragment"
	}{
		{"syntax", "  - filter: price >", "job.yaml:7:19: steps[0].filter: unexpected token EOF"},
		{"filter not bool", "  - filter: price + 1", "job.yaml:7:13: steps[0].filter: expected bool, but got float64"},
		{"unknown name", "  - filter: prize > 1", "job.yaml:7:13: steps[0].filter: unknown name prize"},
		{"mismatched types", "  - map: {x: 'bidder * 2'}", "job.yaml:7:22: steps[0].map.x: invalid operation: * (mismatched types string and int)"},
		{"quoted offset", `  - filter: "price > 1 && bidder > 2"`, "job.yaml:7:34: steps[0].filter: invalid operation: > (mismatched types string and int)"},
		{"second line", "  - map:\n      a: price\n      b: nope + 1", "job.yaml:9:10: steps[0].map.b: unknown name nope"},
		{"after map", "  - map: {a: price}\n  - filter: price > 1", "job.yaml:8:13: steps[1].filter: unknown name price"},
		{"too many hops", "  - window: {type: hopping, size: 1h, advance: 1s}\n  - aggregate: {fields: {n: count}}", "job.yaml:7:13: steps[0].window: size/advance is 3600"},
		{"sum of string", "  - aggregate: {fields: {s: {fn: sum, of: bidder}}}", "job.yaml:7:43: steps[0].aggregate.fields.s.of: sum needs a number, but the expression is string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(t, strings.Replace(typed, "%s", tc.steps, 1))
			var es spec.Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want spec.Errors", err)
			}
			if !strings.HasPrefix(es[0].Error(), tc.want) {
				t.Fatalf("err = %q\nwant prefix %q", es[0].Error(), tc.want)
			}
		})
	}
}

func TestCompileUntypedAllowsAnyName(t *testing.T) {
	p, err := compile(t, `name: u
sources: [{name: s, topic: in}]
steps:
  - filter: price > 10 && _key != ""
  - map: {a: price * 2, t: _time}
  - key_by: a
sink: {topic: out, key: string(a)}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ops) != 3 || p.SinkKey == nil {
		t.Fatalf("plan = %+v", p)
	}
}

func TestCompileTypesFlowThroughSteps(t *testing.T) {
	// After the aggregate, n is an int and window_start exists.
	_, err := compile(t, strings.Replace(typed, "%s", `  - window: {type: tumbling, size: 1m}
  - aggregate: {fields: {n: count, hi: {fn: max, of: price}}}
  - filter: n > 2 && hi > 1.5 && window_start >= 0`, 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = compile(t, strings.Replace(typed, "%s", `  - aggregate: {fields: {n: count}}
  - filter: n == "x"`, 1))
	if err == nil || !strings.Contains(err.Error(), "job.yaml:8:") {
		t.Fatalf("err = %v, want a type error on line 8", err)
	}
}
