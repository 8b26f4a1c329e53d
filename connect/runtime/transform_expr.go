package runtime

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/connect/plugin"
)

// ExprTransformClass is Sluice's own transform: filter or rewrite records
// with expr-lang expressions, compiled once when the connector starts.
const ExprTransformClass = "io.sluice.connect.transforms.Expr"

// exprTransform evaluates, in order: filter (bool; false drops the record),
// then topic, key and value (each replaces that part with its result).
// Expressions see topic, partition, offset, key, value, headers (a map of
// strings) and timestamp (Unix milliseconds).
type exprTransform struct {
	filter, topic, key, value *vm.Program
}

func newExprTransform(cfg map[string]string) (Transform, error) {
	t := &exprTransform{}
	env := exprEnv(&Record{})
	n := 0
	for _, f := range []struct {
		key  string
		dst  **vm.Program
		opts []expr.Option
	}{
		{"filter", &t.filter, []expr.Option{expr.AsBool()}},
		{"topic", &t.topic, []expr.Option{expr.AsKind(reflect.String)}},
		{"key", &t.key, nil},
		{"value", &t.value, nil},
	} {
		src := strings.TrimSpace(cfg[f.key])
		if src == "" {
			continue
		}
		p, err := expr.Compile(src, append([]expr.Option{expr.Env(env)}, f.opts...)...)
		if err != nil {
			return nil, fmt.Errorf("Invalid value %s for configuration %s: %v", src, f.key, strings.Join(strings.Fields(err.Error()), " "))
		}
		*f.dst = p
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s needs at least one of filter, topic, key, value", ExprTransformClass)
	}
	return t, nil
}

// exprRecord is what expressions see; Key and Value are dynamic.
type exprRecord struct {
	Topic     string            `expr:"topic"`
	Partition int64             `expr:"partition"`
	Offset    int64             `expr:"offset"`
	Key       any               `expr:"key"`
	Value     any               `expr:"value"`
	Headers   map[string]string `expr:"headers"`
	Timestamp int64             `expr:"timestamp"`
}

func exprEnv(r *Record) exprRecord {
	var h map[string]string
	if len(r.Headers) > 0 {
		h = make(map[string]string, len(r.Headers))
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
	}
	var ts int64
	if !r.Timestamp.IsZero() {
		ts = r.Timestamp.UnixMilli()
	}
	return exprRecord{Topic: r.Topic, Partition: int64(r.Partition), Offset: r.Offset, Key: exprData(r.Key), Value: exprData(r.Value), Headers: h, Timestamp: ts}
}

func (t *exprTransform) Apply(r *Record) (*Record, error) {
	env := exprEnv(r)
	if t.filter != nil {
		keep, err := expr.Run(t.filter, env)
		if err != nil {
			return nil, err
		}
		if keep != true {
			return nil, nil
		}
	}
	out := *r
	if t.topic != nil {
		v, err := expr.Run(t.topic, env)
		if err != nil {
			return nil, err
		}
		out.Topic = v.(string)
	}
	if t.key != nil {
		v, err := expr.Run(t.key, env)
		if err != nil {
			return nil, err
		}
		out.KeySchema, out.Key = nil, connectValue(v)
	}
	if t.value != nil {
		v, err := expr.Run(t.value, env)
		if err != nil {
			return nil, err
		}
		out.ValueSchema, out.Value = nil, connectValue(v)
	}
	return &out, nil
}

// exprData shows Structs to expressions as maps (field access by name);
// results are schemaless. Schemaless data goes through uncopied.
func exprData(v any) any {
	if !hasStruct(v) {
		return v
	}
	switch x := v.(type) {
	case *plugin.Struct:
		m := make(map[string]any, len(x.Values))
		for k, e := range x.Values {
			m[k] = exprData(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = exprData(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = exprData(e)
		}
		return out
	}
	return v
}

func hasStruct(v any) bool {
	switch x := v.(type) {
	case *plugin.Struct:
		return x != nil
	case []any:
		for _, e := range x {
			if hasStruct(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasStruct(e) {
				return true
			}
		}
	}
	return false
}

// connectValue maps expr results onto Connect data types.
func connectValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = connectValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = connectValue(e)
		}
	}
	return v
}
