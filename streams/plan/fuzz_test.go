package plan

import (
	"testing"

	"github.com/sluicehq/sluice/streams/spec"
)

// FuzzCompile: any job that parses compiles or fails with positioned
// errors, never panics.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"name: a\nsources: [{name: s, topic: t}]\nsteps:\n  - filter: x > 1\nsink: {topic: o}\n",
		"name: a\nsources: [{name: s, topic: t, value: {format: json, fields: {x: int}}}]\nsteps:\n  - map: {y: x * 2}\n  - key_by: y\n  - window: {type: hopping, size: 10s, advance: 5s}\n  - aggregate: {fields: {n: count, m: {fn: max, of: y}}}\n  - emit: final\nsink: {topic: o, key: string(n)}\n",
		"name: j\nsources:\n  - {name: l, topic: a}\n  - {name: r, topic: b, as: table}\nsteps:\n  - join: {with: r, type: left, select: {a: left.x, b: right.y}}\nsink: {topic: o}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		job, err := spec.Parse("f.yaml", []byte(src))
		if err != nil {
			return
		}
		if _, err := Compile("f.yaml", job); err != nil {
			for _, e := range err.(spec.Errors) {
				if e.Pos.Line <= 0 {
					t.Fatalf("error without a line: %v", e)
				}
			}
		}
	})
}
