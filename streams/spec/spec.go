// Package spec parses and validates Sluice stream jobs written as YAML.
//
// Parsing walks yaml.v3 nodes by hand rather than decoding into structs so
// that every error, including unknown fields, carries the line and column
// of the offending node. Expressions are kept as source text with their
// position; package plan compiles them.
package spec

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Pos is a 1-based line and column in the job file.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is one problem in a job file, at a position.
type Error struct {
	File string // name used in messages; may be empty
	Pos  Pos
	Path string // e.g. steps[2].filter
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Pos.Line > 0 {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one job file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Expr is an expression's source text and where it starts in the file.
type Expr struct {
	Src string
	Pos Pos
}

// NamedExpr is an output field computed by an expression.
type NamedExpr struct {
	Name string
	Expr Expr
}

// Field is a declared field of a JSON value; it makes the expression
// environment typed.
type Field struct {
	Name string
	Type string // int, float, string, bool, list, map, any
	Pos  Pos
}

// Format is how a key or value is encoded on the wire.
type Format struct {
	Format string  // json, string or avro (Confluent wire format through the job's registry)
	Fields []Field // optional declared fields (json or avro); empty means untyped
	// Schema (avro sinks): the Avro schema of the output, registered under
	// Subject; without it the latest version of Subject is used.
	Schema  string
	Subject string // avro sinks: default "<topic>-value" or "<topic>-key"
	Pos     Pos
}

// Source is an input topic.
type Source struct {
	Name      string
	Topic     string
	TopicPos  Pos
	Key       Format
	Value     Format
	TimeField string // empty: the record's own timestamp
	Table     bool   // read as a table (latest value per key)
	Pos       Pos
}

// Window kinds.
const (
	Tumbling = "tumbling"
	Hopping  = "hopping"
	Session  = "session"
)

// Window sets how the following aggregate groups records in time.
type Window struct {
	Type    string
	Size    time.Duration
	Advance time.Duration
	Gap     time.Duration
	Grace   time.Duration
	Pos     Pos
}

// AggField is one aggregate output field.
type AggField struct {
	Name string
	Fn   string // count, sum, avg, min, max, count_distinct, topk, collect, first, last
	Of   *Expr  // nil only for count
	K    int    // topk only
	Pos  Pos
}

// Aggregate groups by the record key (or GroupBy) and computes Fields.
type Aggregate struct {
	GroupBy *Expr
	Fields  []AggField
}

// Join kinds.
const (
	Inner = "inner"
	Left  = "left"
	Outer = "outer"
)

// Join joins the pipeline with another source by key.
type Join struct {
	With   string
	Type   string
	Within time.Duration // stream-stream only
	Grace  time.Duration // stream-stream only
	Key    *Expr         // key of the other side; nil keeps its record key
	Select []NamedExpr   // output fields over left and right; empty: {left, right}
	Pos    Pos
}

// Step kinds.
const (
	StepFilter    = "filter"
	StepMap       = "map"
	StepKeyBy     = "key_by"
	StepWindow    = "window"
	StepAggregate = "aggregate"
	StepJoin      = "join"
	StepEmit      = "emit"
)

// Emit modes.
const (
	EmitChanges = "changes"
	EmitFinal   = "final"
)

// Step is one stage of the pipeline; exactly one of its fields is set,
// named by Kind.
type Step struct {
	Kind      string
	Pos       Pos
	Filter    *Expr
	Map       []NamedExpr
	KeyBy     *Expr
	Window    *Window
	Aggregate *Aggregate
	Join      *Join
	Emit      string
}

// Sink is the output topic.
type Sink struct {
	Topic     string
	Format    string // json, string or avro
	Avro      Format // format avro: the value schema (Schema and/or Subject)
	KeyFormat Format // string (default), json or avro
	Key       *Expr  // nil keeps the pipeline key
	Pos       Pos
}

// Job is a parsed stream job.
type Job struct {
	Name       string
	Sources    []Source
	Steps      []Step
	Sink       Sink
	DeadLetter string
	// Registry is the Confluent-compatible schema registry URL for avro
	// formats; empty uses the engine's.
	Registry string
	// CommitInterval and SessionTimeout tune the runner (0: defaults).
	CommitInterval time.Duration
	SessionTimeout time.Duration
	Pos            Pos
}

// UsesAvro reports whether any key or value of the job is Avro.
func (j *Job) UsesAvro() bool {
	for _, s := range j.Sources {
		if s.Key.Format == "avro" || s.Value.Format == "avro" {
			return true
		}
	}
	return j.Sink.Format == "avro" || j.Sink.KeyFormat.Format == "avro"
}

// Source returns the source named name.
func (j *Job) Source(name string) (*Source, bool) {
	for i := range j.Sources {
		if j.Sources[i].Name == name {
			return &j.Sources[i], true
		}
	}
	return nil, false
}

// DeadLetterTopic is where records whose expressions fail at run time go.
func (j *Job) DeadLetterTopic() string {
	if j.DeadLetter != "" {
		return j.DeadLetter
	}
	return "_sluice-streams-" + j.Name + "-dlq"
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$`)
var identRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Aggregate functions and whether they take an `of` expression.
var aggFns = map[string]bool{
	"count": false, "sum": true, "avg": true, "min": true, "max": true,
	"count_distinct": true, "topk": true, "collect": true, "first": true, "last": true,
}

var fieldTypes = map[string]bool{"int": true, "float": true, "string": true, "bool": true, "list": true, "map": true, "any": true}

// Parse parses and validates one job. file names the input in messages.
// The error, if any, is an Errors listing every problem found.
func Parse(file string, data []byte) (*Job, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{p.yamlError(err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, Errors{{File: file, Pos: Pos{1, 1}, Msg: "empty job file"}}
	}
	job := p.job(doc.Content[0])
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, k int) bool {
			a, b := p.errs[i].Pos, p.errs[k].Pos
			return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
		})
		return nil, p.errs
	}
	return job, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func (p *parser) yamlError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		pos.Col = 1
		msg = strings.TrimSpace(yamlLineRE.ReplaceAllString(msg, ""))
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, ":"), " ")
	}
	return &Error{File: p.file, Pos: pos, Msg: "invalid YAML: " + msg}
}

type parser struct {
	file string
	errs Errors
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (p *parser) errf(n *yaml.Node, path, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping with only allowed keys and returns its
// values by key. Keys listed in required must be present.
func (p *parser) fields(n *yaml.Node, path string, allowed []string, required ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errf(n, path, "expected a mapping, got %s", kindName(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(allowed, k.Value) {
			p.errf(k, path, "unknown field %q (allowed: %s)", k.Value, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errf(k, path, "field %q given twice", k.Value)
			continue
		}
		out[k.Value] = v
	}
	for _, r := range required {
		if _, ok := out[r]; !ok {
			p.errf(n, path, "missing required field %q", r)
		}
	}
	return out
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, path, "expected a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) oneOf(n *yaml.Node, path string, choices ...string) string {
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	if !contains(choices, s) {
		p.errf(n, path, "%q is not one of %s", s, strings.Join(choices, ", "))
		return ""
	}
	return s
}

func (p *parser) expr(n *yaml.Node, path string) *Expr {
	s, ok := p.str(n, path)
	if !ok {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		p.errf(n, path, "empty expression")
		return nil
	}
	e := &Expr{Src: s, Pos: pos(n)}
	// Quoted scalars start one column later than the node.
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		e.Pos.Col++
	}
	return e
}

func (p *parser) duration(n *yaml.Node, path string) time.Duration {
	s, ok := p.str(n, path)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if ms, err2 := strconv.ParseInt(s, 10, 64); err2 == nil {
			d, err = time.Duration(ms)*time.Millisecond, nil
		}
	}
	if err != nil {
		p.errf(n, path, "invalid duration %q (use e.g. 10s, 5m, 1h, or milliseconds)", s)
		return 0
	}
	if d < 0 {
		p.errf(n, path, "duration must not be negative")
		return 0
	}
	if d%time.Millisecond != 0 {
		p.errf(n, path, "duration %s is finer than a millisecond", d)
	}
	return d
}

func (p *parser) job(n *yaml.Node) *Job {
	f := p.fields(n, "", []string{"name", "sources", "steps", "sink", "dead_letter", "registry", "commit_interval", "session_timeout"}, "name", "sources", "sink")
	if f == nil {
		return nil
	}
	job := &Job{Pos: pos(n)}
	if v := f["name"]; v != nil {
		if s, ok := p.str(v, "name"); ok {
			if !nameRE.MatchString(s) {
				p.errf(v, "name", "invalid job name %q: use letters, digits, '.', '_' and '-'", s)
			}
			job.Name = s
		}
	}
	if v := f["dead_letter"]; v != nil {
		job.DeadLetter, _ = p.str(v, "dead_letter")
	}
	if v := f["registry"]; v != nil {
		if s, ok := p.str(v, "registry"); ok {
			if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
				p.errf(v, "registry", "registry %q must be an http:// or https:// URL", s)
			}
			job.Registry = s
		}
	}
	if v := f["commit_interval"]; v != nil {
		job.CommitInterval = p.duration(v, "commit_interval")
	}
	if v := f["session_timeout"]; v != nil {
		job.SessionTimeout = p.duration(v, "session_timeout")
	}
	if v := f["sources"]; v != nil {
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			p.errf(v, "sources", "expected a non-empty list of sources")
		} else {
			for i, sn := range v.Content {
				job.Sources = append(job.Sources, p.source(sn, fmt.Sprintf("sources[%d]", i)))
			}
		}
	}
	seen := map[string]bool{}
	for i, s := range job.Sources {
		if s.Name == "" {
			continue
		}
		if seen[s.Name] {
			p.errs = append(p.errs, &Error{File: p.file, Pos: s.Pos, Path: fmt.Sprintf("sources[%d]", i), Msg: fmt.Sprintf("duplicate source name %q", s.Name)})
		}
		seen[s.Name] = true
	}
	if len(job.Sources) > 0 && job.Sources[0].Table {
		p.errs = append(p.errs, &Error{File: p.file, Pos: job.Sources[0].Pos, Path: "sources[0]", Msg: "the first source drives the pipeline and must be read as a stream"})
	}
	if v := f["steps"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			p.errf(v, "steps", "expected a list of steps, got %s", kindName(v))
		} else {
			for i, sn := range v.Content {
				if st := p.step(sn, fmt.Sprintf("steps[%d]", i)); st != nil {
					job.Steps = append(job.Steps, *st)
				}
			}
		}
	}
	if v := f["sink"]; v != nil {
		job.Sink = p.sink(v)
	}
	p.checkPipeline(job)
	return job
}

func (p *parser) source(n *yaml.Node, path string) Source {
	src := Source{Pos: pos(n), Key: Format{Format: "string"}, Value: Format{Format: "json"}}
	f := p.fields(n, path, []string{"name", "topic", "key", "value", "time", "as"}, "name", "topic")
	if f == nil {
		return src
	}
	if v := f["name"]; v != nil {
		if s, ok := p.str(v, path+".name"); ok {
			if !identRE.MatchString(s) {
				p.errf(v, path+".name", "source name %q must be an identifier (letters, digits, _)", s)
			}
			src.Name = s
		}
	}
	if v := f["topic"]; v != nil {
		src.Topic, _ = p.str(v, path+".topic")
		src.TopicPos = pos(v)
	}
	if v := f["key"]; v != nil {
		src.Key = p.format(v, path+".key")
	}
	if v := f["value"]; v != nil {
		src.Value = p.format(v, path+".value")
	}
	if v := f["time"]; v != nil {
		if s, ok := p.str(v, path+".time"); ok && s != "record" {
			src.TimeField = s
			if src.Value.Format == "string" {
				p.errf(v, path+".time", "an event-time field needs a json or avro value")
			} else if len(src.Value.Fields) > 0 && !hasField(src.Value.Fields, s) {
				p.errf(v, path+".time", "time field %q is not among the declared value fields", s)
			}
		}
	}
	if v := f["as"]; v != nil {
		src.Table = p.oneOf(v, path+".as", "stream", "table") == "table"
	}
	return src
}

func hasField(fs []Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

func (p *parser) format(n *yaml.Node, path string) Format {
	return p.formatOf(n, path, []string{"format", "fields"})
}

func (p *parser) formatOf(n *yaml.Node, path string, allowed []string) Format {
	out := Format{Format: "json", Pos: pos(n)}
	if n.Kind == yaml.ScalarNode {
		out.Format = p.oneOf(n, path, "json", "string", "avro")
	} else {
		f := p.fields(n, path, allowed, "format")
		if f == nil {
			return out
		}
		if v := f["schema"]; v != nil {
			out.Schema, _ = p.str(v, path+".schema")
		}
		if v := f["subject"]; v != nil {
			out.Subject, _ = p.str(v, path+".subject")
		}
		if v := f["format"]; v != nil {
			out.Format = p.oneOf(v, path+".format", "json", "string", "avro")
		}
		if (out.Schema != "" || out.Subject != "") && out.Format != "avro" {
			p.errf(n, path, "schema and subject are only for avro")
		}
		if v := f["fields"]; v != nil {
			if v.Kind != yaml.MappingNode {
				p.errf(v, path+".fields", "expected a mapping of field name to type")
			} else {
				for i := 0; i+1 < len(v.Content); i += 2 {
					k, t := v.Content[i], v.Content[i+1]
					typ := p.oneOf(t, path+".fields."+k.Value, "int", "float", "string", "bool", "list", "map", "any")
					if !identRE.MatchString(k.Value) {
						p.errf(k, path+".fields", "field name %q must be an identifier", k.Value)
					}
					out.Fields = append(out.Fields, Field{Name: k.Value, Type: typ, Pos: pos(k)})
				}
				if out.Format == "string" && len(out.Fields) > 0 {
					p.errf(v, path+".fields", "fields are only declared for json or avro")
				}
			}
		}
	}
	return out
}

var stepKinds = []string{StepFilter, StepMap, StepKeyBy, StepWindow, StepAggregate, StepJoin, StepEmit}

func (p *parser) step(n *yaml.Node, path string) *Step {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		p.errf(n, path, "a step is a mapping with exactly one of: %s", strings.Join(stepKinds, ", "))
		return nil
	}
	k, v := n.Content[0], n.Content[1]
	st := &Step{Kind: k.Value, Pos: pos(k)}
	path += "." + k.Value
	switch k.Value {
	case StepFilter:
		st.Filter = p.expr(v, path)
	case StepKeyBy:
		st.KeyBy = p.expr(v, path)
	case StepMap:
		st.Map = p.namedExprs(v, path)
	case StepEmit:
		st.Emit = p.oneOf(v, path, EmitChanges, EmitFinal)
	case StepWindow:
		st.Window = p.window(v, path)
	case StepAggregate:
		st.Aggregate = p.aggregate(v, path)
	case StepJoin:
		st.Join = p.join(v, path)
	default:
		p.errf(k, path, "unknown step %q (allowed: %s)", k.Value, strings.Join(stepKinds, ", "))
		return nil
	}
	return st
}

func (p *parser) namedExprs(n *yaml.Node, path string) []NamedExpr {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.errf(n, path, "expected a mapping of output field to expression")
		return nil
	}
	var out []NamedExpr
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !identRE.MatchString(k.Value) {
			p.errf(k, path, "output field %q must be an identifier", k.Value)
			continue
		}
		if e := p.expr(v, path+"."+k.Value); e != nil {
			out = append(out, NamedExpr{Name: k.Value, Expr: *e})
		}
	}
	return out
}

func (p *parser) window(n *yaml.Node, path string) *Window {
	f := p.fields(n, path, []string{"type", "size", "advance", "gap", "grace"}, "type")
	if f == nil {
		return nil
	}
	w := &Window{Pos: pos(n)}
	w.Type = p.oneOf(f["type"], path+".type", Tumbling, Hopping, Session)
	bad := map[string]bool{}
	get := func(name string) time.Duration {
		if v := f[name]; v != nil {
			n := len(p.errs)
			d := p.duration(v, path+"."+name)
			bad[name] = len(p.errs) > n
			return d
		}
		return 0
	}
	w.Size, w.Advance, w.Gap, w.Grace = get("size"), get("advance"), get("gap"), get("grace")
	need := func(name string, ok bool) {
		switch {
		case ok || bad[name]:
		case f[name] == nil:
			p.errf(n, path, "a %s window needs %s", w.Type, name)
		default:
			p.errf(f[name], path+"."+name, "%s must be greater than zero", name)
		}
	}
	forbid := func(name string) {
		if v := f[name]; v != nil {
			p.errf(v, path+"."+name, "a %s window takes no %s", w.Type, name)
		}
	}
	switch w.Type {
	case Tumbling:
		need("size", w.Size > 0)
		forbid("advance")
		forbid("gap")
	case Hopping:
		need("size", w.Size > 0)
		need("advance", w.Advance > 0)
		if w.Advance > w.Size {
			p.errf(f["advance"], path+".advance", "advance %s is larger than size %s", w.Advance, w.Size)
		}
		forbid("gap")
	case Session:
		need("gap", w.Gap > 0)
		forbid("size")
		forbid("advance")
	}
	return w
}

func (p *parser) aggregate(n *yaml.Node, path string) *Aggregate {
	f := p.fields(n, path, []string{"group_by", "fields"}, "fields")
	if f == nil {
		return nil
	}
	a := &Aggregate{}
	if v := f["group_by"]; v != nil {
		a.GroupBy = p.expr(v, path+".group_by")
	}
	v := f["fields"]
	if v == nil {
		return a
	}
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		p.errf(v, path+".fields", "expected a mapping of output field to {fn, of}")
		return a
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, fv := v.Content[i], v.Content[i+1]
		fp := path + ".fields." + k.Value
		if !identRE.MatchString(k.Value) {
			p.errf(k, path+".fields", "output field %q must be an identifier", k.Value)
		}
		af := AggField{Name: k.Value, Pos: pos(fv)}
		if fv.Kind == yaml.ScalarNode && fv.Value == "count" {
			af.Fn = "count"
			a.Fields = append(a.Fields, af)
			continue
		}
		ff := p.fields(fv, fp, []string{"fn", "of", "k"}, "fn")
		if ff == nil {
			continue
		}
		af.Fn = p.oneOf(ff["fn"], fp+".fn", "count", "sum", "avg", "min", "max", "count_distinct", "topk", "collect", "first", "last")
		if ov := ff["of"]; ov != nil {
			af.Of = p.expr(ov, fp+".of")
		} else if aggFns[af.Fn] {
			p.errf(fv, fp, "%s needs `of`: the expression to aggregate", af.Fn)
		}
		if kv := ff["k"]; kv != nil {
			if af.Fn != "topk" {
				p.errf(kv, fp+".k", "only topk takes k")
			} else if k, err := strconv.Atoi(kv.Value); err != nil || k <= 0 || k > 10000 {
				p.errf(kv, fp+".k", "k must be an integer from 1 to 10000")
			} else {
				af.K = k
			}
		} else if af.Fn == "topk" {
			p.errf(fv, fp, "topk needs k")
		}
		a.Fields = append(a.Fields, af)
	}
	return a
}

func (p *parser) join(n *yaml.Node, path string) *Join {
	f := p.fields(n, path, []string{"with", "type", "within", "grace", "key", "select"}, "with")
	if f == nil {
		return nil
	}
	j := &Join{Pos: pos(n), Type: Inner}
	j.With, _ = p.str(f["with"], path+".with")
	if v := f["type"]; v != nil {
		j.Type = p.oneOf(v, path+".type", Inner, Left, Outer)
	}
	if v := f["within"]; v != nil {
		j.Within = p.duration(v, path+".within")
	}
	if v := f["grace"]; v != nil {
		j.Grace = p.duration(v, path+".grace")
	}
	if v := f["key"]; v != nil {
		j.Key = p.expr(v, path+".key")
	}
	if v := f["select"]; v != nil {
		j.Select = p.namedExprs(v, path+".select")
	}
	return j
}

func (p *parser) sink(n *yaml.Node) Sink {
	s := Sink{Pos: pos(n), Format: "json"}
	s.KeyFormat = Format{Format: "string"}
	f := p.fields(n, "sink", []string{"topic", "format", "schema", "subject", "key", "key_format"}, "topic")
	if f == nil {
		return s
	}
	s.Topic, _ = p.str(f["topic"], "sink.topic")
	if v := f["format"]; v != nil {
		s.Format = p.oneOf(v, "sink.format", "json", "string", "avro")
	}
	if v := f["schema"]; v != nil {
		s.Avro.Schema, _ = p.str(v, "sink.schema")
	}
	if v := f["subject"]; v != nil {
		s.Avro.Subject, _ = p.str(v, "sink.subject")
	}
	if (s.Avro.Schema != "" || s.Avro.Subject != "") && s.Format != "avro" {
		p.errf(n, "sink", "schema and subject are only for format: avro")
	}
	if s.Format == "avro" {
		s.Avro.Format = "avro"
		if s.Avro.Subject == "" {
			s.Avro.Subject = s.Topic + "-value"
		}
	}
	if v := f["key_format"]; v != nil {
		s.KeyFormat = p.formatOf(v, "sink.key_format", []string{"format", "schema", "subject"})
		if s.KeyFormat.Format == "avro" && s.KeyFormat.Subject == "" {
			s.KeyFormat.Subject = s.Topic + "-key"
		}
	}
	if v := f["key"]; v != nil {
		s.Key = p.expr(v, "sink.key")
	}
	return s
}

// checkPipeline checks how steps fit together.
func (p *parser) checkPipeline(job *Job) {
	add := func(at Pos, path, msg string) {
		p.errs = append(p.errs, &Error{File: p.file, Pos: at, Path: path, Msg: msg})
	}
	for i, st := range job.Steps {
		path := fmt.Sprintf("steps[%d].%s", i, st.Kind)
		switch st.Kind {
		case StepWindow:
			if i+1 >= len(job.Steps) || job.Steps[i+1].Kind != StepAggregate {
				add(st.Pos, path, "a window must be followed by an aggregate")
			}
		case StepEmit:
			if i == 0 || job.Steps[i-1].Kind != StepAggregate {
				add(st.Pos, path, "emit must directly follow an aggregate")
			} else if st.Emit == EmitFinal && (i < 2 || job.Steps[i-2].Kind != StepWindow) {
				add(st.Pos, path, "emit: final needs a windowed aggregate (a window step before the aggregate)")
			}
		case StepJoin:
			j := st.Join
			if j == nil || j.With == "" {
				continue
			}
			other, ok := job.Source(j.With)
			switch {
			case !ok:
				add(j.Pos, path+".with", fmt.Sprintf("unknown source %q", j.With))
			case len(job.Sources) > 0 && other == &job.Sources[0]:
				add(j.Pos, path+".with", "a job cannot join its first source with itself")
			case other.Table:
				if j.Type == Outer {
					add(j.Pos, path+".type", "a stream-table join is inner or left")
				}
				if j.Within > 0 || j.Grace > 0 {
					add(j.Pos, path, "a stream-table join takes no within or grace")
				}
			default:
				if j.Within <= 0 {
					add(j.Pos, path, "a stream-stream join needs within > 0")
				}
			}
		}
	}
	used := map[string]bool{}
	for _, st := range job.Steps {
		if st.Join != nil {
			if used[st.Join.With] {
				add(st.Join.Pos, "join", fmt.Sprintf("source %q joined twice", st.Join.With))
			}
			used[st.Join.With] = true
		}
	}
	for i, s := range job.Sources {
		if i > 0 && s.Name != "" && !used[s.Name] {
			add(s.Pos, fmt.Sprintf("sources[%d]", i), fmt.Sprintf("source %q is never joined", s.Name))
		}
	}
}
