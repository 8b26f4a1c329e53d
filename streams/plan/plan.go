// Package plan compiles a parsed stream job into operators: every
// expression becomes an expr-lang program once per job, checked against the
// fields known at its step so that type errors point to the YAML position.
package plan

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/streams/spec"
)

// MaxHops bounds how many hopping windows one record falls into.
const MaxHops = 1000

// Names every expression can use besides the value's fields.
const (
	KeyVar  = "_key"  // the record key
	TimeVar = "_time" // the record's event time, ms since the epoch
)

// Prog is a compiled expression with the source it came from.
type Prog struct {
	*vm.Program
	Src spec.Expr
}

// Field is an output field computed by a program.
type Field struct {
	Name string
	Prog *Prog
}

// Op is one operator of the pipeline: *Filter, *Map, *KeyBy, *Aggregate or *Join.
type Op interface{ step() int }

// Filter keeps records whose predicate is true.
type Filter struct {
	Step int
	Pred *Prog
}

// Map replaces the value with a new object of computed fields.
type Map struct {
	Step   int
	Fields []Field
}

// KeyBy replaces the record key.
type KeyBy struct {
	Step int
	Key  *Prog
}

// Window is a time window in milliseconds.
type Window struct {
	Type                      string // spec.Tumbling, spec.Hopping or spec.Session
	Size, Advance, Gap, Grace int64
}

// AggField is one aggregate output.
type AggField struct {
	Name string
	Fn   string
	Of   *Prog // nil for count(*)
	K    int
}

// Aggregate groups records by key (or GroupBy) and window.
type Aggregate struct {
	Step    int
	Window  *Window // nil: one running aggregate per key
	GroupBy *Prog
	Fields  []AggField
	Emit    string // spec.EmitChanges or spec.EmitFinal
}

// Join joins the pipeline with another source.
type Join struct {
	Step          int
	Source        int // index into Plan.Sources
	Table         bool
	Type          string
	Within, Grace int64 // ms, stream-stream only
	Key           *Prog // key of the other side; nil keeps its record key
	Select        []Field
}

func (o *Filter) step() int    { return o.Step }
func (o *Map) step() int       { return o.Step }
func (o *KeyBy) step() int     { return o.Step }
func (o *Aggregate) step() int { return o.Step }
func (o *Join) step() int      { return o.Step }

// StepIndex is the index in the job's steps of the step op came from.
func StepIndex(op Op) int { return op.step() }

// Source is an input with its declared field types.
type Source struct {
	spec.Source
	// Coerce maps declared field names to int/float/string/bool so decoded
	// JSON numbers match the types expressions were checked against.
	Coerce map[string]string
	// Internal marks a repartition topic written by the job itself: its
	// JSON integers decode as ints, as they were before they were written.
	Internal bool
}

// Plan is a compiled job.
type Plan struct {
	Job     *spec.Job
	Sources []Source
	Ops     []Op
	SinkKey *Prog
}

// schema is what is known about the value's fields at a step. A nil schema
// is untyped: any name may be used. A nil type is a field of unknown type.
type schema map[string]reflect.Type

var (
	tInt    = reflect.TypeOf(0)
	tFloat  = reflect.TypeOf(0.0)
	tString = reflect.TypeOf("")
	tBool   = reflect.TypeOf(false)
	tList   = reflect.TypeOf([]any{})
	tMap    = reflect.TypeOf(map[string]any{})
)

func typeOf(name string) reflect.Type {
	switch name {
	case "int":
		return tInt
	case "float":
		return tFloat
	case "string":
		return tString
	case "bool":
		return tBool
	case "list":
		return tList
	case "map":
		return tMap
	}
	return nil
}

// Compile compiles a parsed job. file names the input in messages. The
// error, if any, is spec.Errors with positions.
func Compile(file string, job *spec.Job) (*Plan, error) {
	c := &compiler{file: file, job: job}
	p := &Plan{Job: job}
	for _, s := range job.Sources {
		src := Source{Source: s}
		for _, f := range s.Value.Fields {
			if f.Type != "any" && f.Type != "list" && f.Type != "map" {
				if src.Coerce == nil {
					src.Coerce = map[string]string{}
				}
				src.Coerce[f.Name] = f.Type
			}
		}
		p.Sources = append(p.Sources, src)
	}
	cur := sourceSchema(job.Sources[0])
	keyType := keyTypeOf(job.Sources[0])
	var window *spec.Window
	for i, st := range job.Steps {
		path := fmt.Sprintf("steps[%d].%s", i, st.Kind)
		switch st.Kind {
		case spec.StepFilter:
			if st.Filter == nil {
				continue
			}
			prog := c.compile(*st.Filter, path, cur, keyType, expr.AsBool())
			p.Ops = append(p.Ops, &Filter{Step: i, Pred: prog})
		case spec.StepMap:
			op := &Map{Step: i}
			next := schema{}
			for _, f := range st.Map {
				prog := c.compile(f.Expr, path+"."+f.Name, cur, keyType)
				op.Fields = append(op.Fields, Field{Name: f.Name, Prog: prog})
				next[f.Name] = outType(prog)
			}
			p.Ops = append(p.Ops, op)
			cur = next
		case spec.StepKeyBy:
			if st.KeyBy == nil {
				continue
			}
			prog := c.compile(*st.KeyBy, path, cur, keyType)
			p.Ops = append(p.Ops, &KeyBy{Step: i, Key: prog})
			keyType = outType(prog)
		case spec.StepWindow:
			window = st.Window
		case spec.StepAggregate:
			if st.Aggregate == nil {
				continue
			}
			op := &Aggregate{Step: i, Emit: spec.EmitChanges}
			if window != nil {
				op.Window = &Window{Type: window.Type, Size: ms(window.Size), Advance: ms(window.Advance), Gap: ms(window.Gap), Grace: ms(window.Grace)}
				if op.Window.Type == spec.Tumbling {
					op.Window.Advance = op.Window.Size
				}
				// Each record updates size/advance windows; bound the work.
				if op.Window.Type == spec.Hopping && op.Window.Advance > 0 && op.Window.Size/op.Window.Advance > MaxHops {
					c.errs = append(c.errs, &spec.Error{File: file, Pos: window.Pos, Path: fmt.Sprintf("steps[%d].window", i-1),
						Msg: fmt.Sprintf("size/advance is %d; at most %d windows per record are allowed", op.Window.Size/op.Window.Advance, MaxHops)})
				}
				window = nil
			}
			if i+1 < len(job.Steps) && job.Steps[i+1].Kind == spec.StepEmit && job.Steps[i+1].Emit != "" {
				op.Emit = job.Steps[i+1].Emit
			}
			if g := st.Aggregate.GroupBy; g != nil {
				op.GroupBy = c.compile(*g, path+".group_by", cur, keyType)
				keyType = outType(op.GroupBy)
			}
			next := schema{}
			if op.Window != nil {
				next["window_start"], next["window_end"] = tInt, tInt
			}
			for _, f := range st.Aggregate.Fields {
				af := AggField{Name: f.Name, Fn: f.Fn, K: f.K}
				var ot reflect.Type
				if f.Of != nil {
					af.Of = c.compile(*f.Of, path+".fields."+f.Name+".of", cur, keyType)
					ot = outType(af.Of)
					c.checkAggType(af, f, path+".fields."+f.Name+".of", ot)
				}
				next[f.Name] = aggType(f.Fn, ot)
				op.Fields = append(op.Fields, af)
			}
			p.Ops = append(p.Ops, op)
			cur = next
		case spec.StepJoin:
			j := st.Join
			if j == nil {
				continue
			}
			idx := -1
			for k := range job.Sources {
				if job.Sources[k].Name == j.With {
					idx = k
				}
			}
			if idx < 0 {
				continue
			}
			other := job.Sources[idx]
			op := &Join{Step: i, Source: idx, Table: other.Table, Type: j.Type, Within: ms(j.Within), Grace: ms(j.Grace)}
			if j.Key != nil {
				op.Key = c.compile(*j.Key, path+".key", sourceSchema(other), keyTypeOf(other))
			}
			if len(j.Select) > 0 {
				env := schema{"left": typeOfSchema(cur), "right": typeOfSchema(sourceSchema(other))}
				next := schema{}
				for _, f := range j.Select {
					prog := c.compile(f.Expr, path+".select."+f.Name, env, keyType)
					op.Select = append(op.Select, Field{Name: f.Name, Prog: prog})
					next[f.Name] = outType(prog)
				}
				cur = next
			} else {
				cur = schema{"left": tMap, "right": tMap}
			}
			p.Ops = append(p.Ops, op)
		}
	}
	if job.Sink.Key != nil {
		p.SinkKey = c.compile(*job.Sink.Key, "sink.key", cur, keyType)
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return p, nil
}

func typeOfSchema(s schema) reflect.Type { return tMap }

func ms(d time.Duration) int64 { return int64(d / time.Millisecond) }

func sourceSchema(s spec.Source) schema {
	if s.Value.Format == "string" {
		return schema{"value": tString}
	}
	if len(s.Value.Fields) == 0 {
		return nil
	}
	out := schema{}
	for _, f := range s.Value.Fields {
		out[f.Name] = typeOf(f.Type)
	}
	return out
}

func keyTypeOf(s spec.Source) reflect.Type {
	if s.Key.Format == "string" {
		return tString
	}
	return nil
}

func outType(p *Prog) reflect.Type {
	if p == nil || p.Node() == nil {
		return nil
	}
	t := p.Node().Type()
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	return t
}

func isNumber(t reflect.Type) bool {
	if t == nil {
		return true // unknown: checked at run time
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func aggType(fn string, of reflect.Type) reflect.Type {
	switch fn {
	case "count", "count_distinct":
		return tInt
	case "sum", "avg":
		return tFloat
	case "topk", "collect":
		return tList
	case "min", "max", "first", "last":
		return of
	}
	return nil
}

type compiler struct {
	file string
	job  *spec.Job
	errs spec.Errors
}

func (c *compiler) checkAggType(af AggField, f spec.AggField, path string, t reflect.Type) {
	switch af.Fn {
	case "sum", "avg", "topk":
		if !isNumber(t) {
			c.errs = append(c.errs, &spec.Error{File: c.file, Pos: f.Of.Pos, Path: path, Msg: fmt.Sprintf("%s needs a number, but the expression is %s", af.Fn, t)})
		}
	case "min", "max":
		if t != nil && !isNumber(t) && t.Kind() != reflect.String {
			c.errs = append(c.errs, &spec.Error{File: c.file, Pos: f.Of.Pos, Path: path, Msg: fmt.Sprintf("%s needs a number or string, but the expression is %s", af.Fn, t)})
		}
	}
}

// compile compiles one expression against the fields known at its step.
func (c *compiler) compile(e spec.Expr, path string, s schema, keyType reflect.Type, opts ...expr.Option) *Prog {
	env := map[string]any{}
	loose := s == nil || keyType == nil
	for name, t := range s {
		if t == nil {
			loose = true
			continue
		}
		env[name] = reflect.Zero(t).Interface()
	}
	env[TimeVar] = 0
	if keyType != nil {
		env[KeyVar] = reflect.Zero(keyType).Interface()
	}
	all := []expr.Option{expr.Env(env)}
	if loose {
		all = append(all, expr.AllowUndefinedVariables())
	}
	all = append(all, opts...)
	prog, err := expr.Compile(e.Src, all...)
	if err != nil {
		c.errs = append(c.errs, exprError(c.file, e, path, err))
		return nil
	}
	return &Prog{Program: prog, Src: e}
}

// exprError places an expr-lang error at its YAML position: the
// expression's start plus the offset expr reports within it.
func exprError(fileName string, e spec.Expr, path string, err error) *spec.Error {
	out := &spec.Error{File: fileName, Pos: e.Pos, Path: path, Msg: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		out.Msg = fe.Message
		if fe.Line <= 1 {
			out.Pos.Col = e.Pos.Col + fe.Column
		} else {
			out.Pos.Line = e.Pos.Line + fe.Line - 1
			out.Pos.Col = fe.Column + 1
		}
	}
	return out
}
