package spec

import (
	"strings"
	"testing"
	"time"
)

const goodJob = `name: bids-per-auction
sources:
  - name: bids
    topic: bids
    key: string
    value:
      format: json
      fields: {auction: int, price: float, bidder: int, ts: int}
    time: ts
  - name: persons
    topic: persons
    as: table
steps:
  - filter: price > 10
  - join: {with: persons, type: left, key: "string(id)"}
  - map:
      auction: left.auction
      price: left.price
  - key_by: auction
  - window: {type: hopping, size: 10s, advance: 2s, grace: 1s}
  - aggregate:
      fields:
        n: count
        top: {fn: topk, of: price, k: 3}
  - emit: final
sink:
  topic: out
  format: json
`

func TestParseGood(t *testing.T) {
	job, err := Parse("job.yaml", []byte(goodJob))
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "bids-per-auction" || len(job.Sources) != 2 || len(job.Steps) != 7 {
		t.Fatalf("job = %+v", job)
	}
	src := job.Sources[0]
	if src.TimeField != "ts" || src.Key.Format != "string" || len(src.Value.Fields) != 4 || src.Table {
		t.Fatalf("source = %+v", src)
	}
	if !job.Sources[1].Table {
		t.Fatal("persons should be a table")
	}
	w := job.Steps[4].Window
	if w.Type != Hopping || w.Size != 10*time.Second || w.Advance != 2*time.Second || w.Grace != time.Second {
		t.Fatalf("window = %+v", w)
	}
	agg := job.Steps[5].Aggregate
	if len(agg.Fields) != 2 || agg.Fields[0].Fn != "count" || agg.Fields[1].K != 3 || agg.Fields[1].Of.Src != "price" {
		t.Fatalf("aggregate = %+v", agg)
	}
	if f := job.Steps[0].Filter; f.Src != "price > 10" || f.Pos != (Pos{14, 13}) {
		t.Fatalf("filter = %+v", f)
	}
	if k := job.Steps[1].Join.Key; k.Pos != (Pos{15, 45}) {
		t.Fatalf("quoted expression position = %v, want 15:45", k.Pos)
	}
	if job.Steps[6].Emit != EmitFinal || job.Sink.Topic != "out" {
		t.Fatalf("emit/sink = %+v %+v", job.Steps[6], job.Sink)
	}
	if job.DeadLetterTopic() != "_sluice-streams-bids-per-auction-dlq" {
		t.Fatal(job.DeadLetterTopic())
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings, each must appear in one error line
	}{
		{"invalid yaml", "name: x\nsources: [a\n", []string{"job.yaml:", "invalid YAML"}},
		{"empty", "", []string{"empty job file"}},
		{"not a mapping", "- a\n", []string{"job.yaml:1:1: expected a mapping"}},
		{"unknown top field", "name: x\nsorces: []\nsink: {topic: o}\n", []string{
			`job.yaml:2:1: unknown field "sorces"`, `missing required field "sources"`}},
		{"unknown source field", "name: x\nsources:\n  - name: a\n    topic: t\n    colour: red\nsink: {topic: o}\n",
			[]string{`job.yaml:5:5: sources[0]: unknown field "colour"`}},
		{"unknown step", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - flter: a > 1\nsink: {topic: o}\n",
			[]string{`job.yaml:4:5: steps[0].flter: unknown step "flter"`}},
		{"two keys in step", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - {filter: a, map: {b: a}}\nsink: {topic: o}\n",
			[]string{`job.yaml:4:5: steps[0]: a step is a mapping with exactly one of`}},
		{"bad duration", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - window: {type: tumbling, size: ten}\n  - aggregate: {fields: {n: count}}\nsink: {topic: o}\n",
			[]string{`job.yaml:4:36: steps[0].window.size: invalid duration "ten"`}},
		{"hopping without advance", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - window: {type: hopping, size: 10s}\n  - aggregate: {fields: {n: count}}\nsink: {topic: o}\n",
			[]string{`4:13: steps[0].window: a hopping window needs advance`}},
		{"window without aggregate", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - window: {type: session, gap: 1m}\nsink: {topic: o}\n",
			[]string{`4:5: steps[0].window: a window must be followed by an aggregate`}},
		{"final without window", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - aggregate: {fields: {n: count}}\n  - emit: final\nsink: {topic: o}\n",
			[]string{`5:5: steps[1].emit: emit: final needs a windowed aggregate`}},
		{"sum without of", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - aggregate: {fields: {s: {fn: sum}}}\nsink: {topic: o}\n",
			[]string{"sum needs `of`"}},
		{"unknown aggregate", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - aggregate: {fields: {s: {fn: median, of: a}}}\nsink: {topic: o}\n",
			[]string{`4:34: steps[0].aggregate.fields.s.fn: "median" is not one of`}},
		{"unknown join source", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - join: {with: b, within: 1s}\nsink: {topic: o}\n",
			[]string{`4:11: steps[0].join.with: unknown source "b"`}},
		{"outer stream-table", "name: x\nsources: [{name: a, topic: t}, {name: b, topic: u, as: table}]\nsteps:\n  - join: {with: b, type: outer}\nsink: {topic: o}\n",
			[]string{`steps[0].join.type: a stream-table join is inner or left`}},
		{"stream-stream without within", "name: x\nsources: [{name: a, topic: t}, {name: b, topic: u}]\nsteps:\n  - join: {with: b}\nsink: {topic: o}\n",
			[]string{`stream-stream join needs within > 0`}},
		{"table first", "name: x\nsources: [{name: a, topic: t, as: table}]\nsink: {topic: o}\n",
			[]string{`must be read as a stream`}},
		{"avro schema on a json sink", "name: x\nsources: [{name: a, topic: t, value: avro}]\nsink: {topic: o, schema: '{}'}\n",
			[]string{`3:7: sink: schema and subject are only for format: avro`}},
		{"bad registry", "name: x\nregistry: localhost:8081\nsources: [{name: a, topic: t}]\nsink: {topic: o}\n",
			[]string{`2:11: registry: registry "localhost:8081" must be an http:// or https:// URL`}},
		{"string fields", "name: x\nsources: [{name: a, topic: t, value: {format: string, fields: {a: int}}}]\nsink: {topic: o}\n",
			[]string{`fields are only declared for json or avro`}},
		{"bad field type", "name: x\nsources: [{name: a, topic: t, value: {format: json, fields: {p: decimal}}}]\nsink: {topic: o}\n",
			[]string{`"decimal" is not one of`}},
		{"empty expression", "name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - filter: ''\nsink: {topic: o}\n",
			[]string{`4:13: steps[0].filter: empty expression`}},
		{"bad name", "name: 'a b'\nsources: [{name: a, topic: t}]\nsink: {topic: o}\n",
			[]string{`1:7: name: invalid job name`}},
		{"unused source", "name: x\nsources: [{name: a, topic: t}, {name: b, topic: u}]\nsink: {topic: o}\n",
			[]string{`source "b" is never joined`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("job.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// FuzzParse checks that no input crashes the parser and that every error
// has a position or is a YAML error.
func FuzzParse(f *testing.F) {
	f.Add(goodJob)
	f.Add("name: x\nsources: [{name: a, topic: t}]\nsink: {topic: o}\n")
	f.Add("{")
	f.Fuzz(func(t *testing.T, s string) {
		job, err := Parse("f.yaml", []byte(s))
		if err == nil && job == nil {
			t.Fatal("nil job without error")
		}
	})
}

func TestZeroWindowSize(t *testing.T) {
	_, err := Parse("j.yaml", []byte("name: x\nsources: [{name: a, topic: t}]\nsteps:\n  - window: {type: tumbling, size: 0s}\n  - aggregate: {fields: {n: count}}\nsink: {topic: o}\n"))
	if err == nil || !strings.Contains(err.Error(), "j.yaml:4:36: steps[0].window.size: size must be greater than zero") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseAvroAndSettings(t *testing.T) {
	job, err := Parse("job.yaml", []byte(`name: a
registry: http://127.0.0.1:8081
commit_interval: 250ms
session_timeout: 6s
sources:
  - name: s
    topic: in
    key: avro
    value: {format: avro, fields: {n: int}}
sink:
  topic: out
  format: avro
  key_format: {format: avro, schema: '"string"'}
`))
	if err != nil {
		t.Fatal(err)
	}
	if job.Registry != "http://127.0.0.1:8081" || job.CommitInterval != 250*time.Millisecond || job.SessionTimeout != 6*time.Second {
		t.Fatalf("settings = %q %v %v", job.Registry, job.CommitInterval, job.SessionTimeout)
	}
	if !job.UsesAvro() || job.Sources[0].Key.Format != "avro" || len(job.Sources[0].Value.Fields) != 1 {
		t.Fatalf("source = %+v", job.Sources[0])
	}
	s := job.Sink
	if s.Format != "avro" || s.Avro.Subject != "out-value" || s.Avro.Schema != "" ||
		s.KeyFormat.Format != "avro" || s.KeyFormat.Subject != "out-key" || s.KeyFormat.Schema != `"string"` {
		t.Fatalf("sink = %+v", s)
	}
}
