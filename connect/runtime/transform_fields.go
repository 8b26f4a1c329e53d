package runtime

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
)

// The field transforms work on schemaless maps and on *plugin.Struct values
// alike, as Kafka's do: with a schema they derive the output schema from the
// input schema once (cached per input schema) and build Structs of it.

func set(lists ...string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, x := range plugin.SplitList(l) {
			m[x] = true
		}
	}
	return m
}

// schemaCache maps an input schema to the derived one.
type schemaCache struct {
	mu sync.Mutex
	m  map[*plugin.Schema]*plugin.Schema
}

func (c *schemaCache) get(in *plugin.Schema, build func() (*plugin.Schema, error)) (*plugin.Schema, error) {
	c.mu.Lock()
	out, ok := c.m[in]
	c.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := build()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= schemaCacheMax {
		c.m = map[*plugin.Schema]*plugin.Schema{}
	}
	c.m[in] = out
	c.mu.Unlock()
	return out, nil
}

// operand is the key or value a transform works on.
type operand struct {
	schema *plugin.Schema // nil: schemaless map
	st     *plugin.Struct
	m      map[string]any
}

func (o operand) get(f string) (any, bool) {
	if o.st != nil {
		v, ok := o.st.Values[f]
		return v, ok
	}
	v, ok := o.m[f]
	return v, ok
}

func side(onKey bool) string {
	if onKey {
		return "key"
	}
	return "value"
}

// target returns the key or value as an operand; ok is false for a null.
func target(r *Record, onKey bool, purpose string) (operand, bool, error) {
	v, s := r.Value, r.ValueSchema
	if onKey {
		v, s = r.Key, r.KeySchema
	}
	if v == nil {
		return operand{}, false, nil
	}
	if st, ok := v.(*plugin.Struct); ok && st != nil {
		sch := st.Schema
		if sch == nil {
			sch = s
		}
		if sch == nil || sch.Type != plugin.StructT {
			return operand{}, false, fmt.Errorf("Only Struct objects supported for [%s], found a struct without a struct schema", purpose)
		}
		return operand{schema: sch, st: st}, true, nil
	}
	if s != nil && s.Type == plugin.StructT {
		if m, ok := v.(map[string]any); ok {
			return operand{schema: s, st: &plugin.Struct{Schema: s, Values: m}}, true, nil
		}
		return operand{}, false, fmt.Errorf("Only Struct objects supported for [%s], found: %T", purpose, v)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return operand{}, false, fmt.Errorf("Only Map objects supported in absence of schema for [%s], found: %T", purpose, v)
	}
	return operand{m: m}, true, nil
}

// put returns r with its key or value replaced.
func put(r *Record, onKey bool, s *plugin.Schema, v any) *Record {
	out := *r
	if onKey {
		out.KeySchema, out.Key = s, v
	} else {
		out.ValueSchema, out.Value = s, v
	}
	return &out
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

type insertField struct {
	onKey                                                         bool
	topic, partition, offset, timestamp, staticField, staticValue string
	schemas                                                       schemaCache
}

// field strips Kafka's "!" (required) and "?" (optional) suffix.
func field(s string) string { return strings.TrimRight(s, "!?") }

// optionalSpec says whether an InsertField spec makes an optional field:
// "name!" is required, "name" and "name?" optional.
func optionalSpec(s string) bool { return !strings.HasSuffix(s, "!") }

func (t *insertField) Apply(r *Record) (*Record, error) {
	o, ok, err := target(r, t.onKey, "field insertion")
	if err != nil || !ok {
		return r, err
	}
	type ins struct {
		spec string
		s    *plugin.Schema
		v    any
	}
	var adds []ins
	if t.topic != "" {
		adds = append(adds, ins{t.topic, &plugin.Schema{Type: plugin.String}, r.Topic})
	}
	if t.partition != "" {
		var v any
		if r.Partition >= 0 {
			v = int64(r.Partition)
		}
		adds = append(adds, ins{t.partition, &plugin.Schema{Type: plugin.Int32}, v})
	}
	if t.offset != "" {
		var v any
		if r.Offset >= 0 {
			v = r.Offset
		}
		adds = append(adds, ins{t.offset, &plugin.Schema{Type: plugin.Int64}, v})
	}
	if t.timestamp != "" {
		var v any
		if !r.Timestamp.IsZero() {
			v = r.Timestamp.UnixMilli()
		}
		adds = append(adds, ins{t.timestamp, &plugin.Schema{Type: plugin.Int64, Name: avrodata.TimestampName, Version: 1}, v})
	}
	if t.staticField != "" {
		adds = append(adds, ins{t.staticField, &plugin.Schema{Type: plugin.String}, t.staticValue})
	}
	if o.schema == nil {
		m := clone(o.m)
		for _, a := range adds {
			if a.v != nil {
				m[field(a.spec)] = a.v
			}
		}
		return put(r, t.onKey, nil, m), nil
	}
	ns, err := t.schemas.get(o.schema, func() (*plugin.Schema, error) {
		s := copySchema(o.schema)
		for _, a := range adds {
			fs := *a.s
			fs.Optional = optionalSpec(a.spec)
			s.Fields = append(s.Fields, plugin.Field{Name: field(a.spec), Schema: &fs})
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	st := &plugin.Struct{Schema: ns, Values: clone(o.st.Values)}
	for _, a := range adds {
		if a.v == nil {
			if !optionalSpec(a.spec) {
				return nil, fmt.Errorf("required field %s has no value for this record", field(a.spec))
			}
			continue
		}
		st.Values[field(a.spec)] = a.v
	}
	return put(r, t.onKey, ns, st), nil
}

type replaceField struct {
	onKey            bool
	include, exclude map[string]bool
	renames          map[string]string
	schemas          schemaCache
}

func (t *replaceField) keep(f string) bool {
	return !t.exclude[f] && (len(t.include) == 0 || t.include[f])
}

func (t *replaceField) rename(f string) string {
	if to, ok := t.renames[f]; ok {
		return to
	}
	return f
}

func (t *replaceField) Apply(r *Record) (*Record, error) {
	o, ok, err := target(r, t.onKey, "field replacement")
	if err != nil || !ok {
		return r, err
	}
	if o.schema == nil {
		out := make(map[string]any, len(o.m))
		for k, v := range o.m {
			if t.keep(k) {
				out[t.rename(k)] = v
			}
		}
		return put(r, t.onKey, nil, out), nil
	}
	ns, err := t.schemas.get(o.schema, func() (*plugin.Schema, error) {
		s := copySchema(o.schema)
		s.Fields = s.Fields[:0]
		for _, f := range o.schema.Fields {
			if t.keep(f.Name) {
				s.Fields = append(s.Fields, plugin.Field{Name: t.rename(f.Name), Schema: f.Schema})
			}
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	st := plugin.NewStruct(ns)
	for _, f := range o.schema.Fields {
		if v, ok := o.st.Values[f.Name]; ok && t.keep(f.Name) {
			st.Values[t.rename(f.Name)] = v
		}
	}
	return put(r, t.onKey, ns, st), nil
}

type maskField struct {
	onKey       bool
	fields      []string
	replacement *string
}

// maskValue is Kafka's per-type "empty" value for schemaless data.
func maskValue(v any) any {
	switch v.(type) {
	case bool:
		return false
	case int64, int, int32, int16, int8:
		return int64(0)
	case float64, float32:
		return float64(0)
	case string:
		return ""
	case []byte:
		return []byte{}
	case []any:
		return []any{}
	case map[string]any:
		return map[string]any{}
	}
	return nil
}

// maskFor is the masked value of a field of schema s.
func maskFor(s *plugin.Schema) any {
	if s.Name == avrodata.DecimalName {
		return []byte{0}
	}
	switch s.Type {
	case plugin.Boolean:
		return false
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64:
		return int64(0)
	case plugin.Float32, plugin.Float64:
		return float64(0)
	case plugin.String:
		return ""
	case plugin.Bytes:
		return []byte{}
	case plugin.Array:
		return []any{}
	case plugin.Map:
		if s.Keys != nil && s.Keys.Type == plugin.String {
			return map[string]any{}
		}
		return []plugin.MapEntry{}
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int64, int, int32, int16, int8:
		return "int64"
	case float64, float32:
		return "float64"
	}
	return "string"
}

func (t *maskField) Apply(r *Record) (*Record, error) {
	o, ok, err := target(r, t.onKey, "mask")
	if err != nil || !ok {
		return r, err
	}
	if o.schema == nil {
		m := clone(o.m)
		for _, f := range t.fields {
			v, ok := m[f]
			if !ok {
				continue
			}
			if t.replacement != nil {
				c, err := castTo(*t.replacement, kindOf(v))
				if err != nil {
					return nil, fmt.Errorf("Unable to mask field %s with replacement %q: %w", f, *t.replacement, err)
				}
				m[f] = c
			} else {
				m[f] = maskValue(v)
			}
		}
		return put(r, t.onKey, nil, m), nil
	}
	st := &plugin.Struct{Schema: o.schema, Values: clone(o.st.Values)}
	for _, f := range t.fields {
		fs := o.schema.Field(f)
		if fs == nil {
			return nil, fmt.Errorf("Unknown field: %s", f)
		}
		if st.Values[f] == nil {
			continue
		}
		if t.replacement != nil {
			typ := ""
			for n, ty := range castNames {
				if ty == fs.Type {
					typ = n
				}
			}
			if typ == "" || fs.Name != "" {
				return nil, fmt.Errorf("Unable to mask field %s of type %s with a replacement", f, schemaTypeName(fs))
			}
			c, err := castTo(*t.replacement, typ)
			if err != nil {
				return nil, fmt.Errorf("Unable to mask field %s with replacement %q: %w", f, *t.replacement, err)
			}
			st.Values[f] = c
		} else {
			st.Values[f] = maskFor(fs)
		}
	}
	return put(r, t.onKey, o.schema, st), nil
}

type valueToKey struct {
	fields  []string
	schemas schemaCache
}

func (t *valueToKey) Apply(r *Record) (*Record, error) {
	o, ok, err := target(r, false, "copying fields from value to key")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("ValueToKey needs a value, found null")
	}
	if o.schema == nil {
		key := map[string]any{}
		for _, f := range t.fields {
			v, ok := o.m[f]
			if !ok {
				return nil, fmt.Errorf("field %s not found in value", f)
			}
			key[f] = v
		}
		out := *r
		out.KeySchema, out.Key = nil, key
		return &out, nil
	}
	ks, err := t.schemas.get(o.schema, func() (*plugin.Schema, error) {
		s := &plugin.Schema{Type: plugin.StructT}
		for _, f := range t.fields {
			fs := o.schema.Field(f)
			if fs == nil {
				return nil, fmt.Errorf("Unknown field: %s", f)
			}
			s.Fields = append(s.Fields, plugin.Field{Name: f, Schema: fs})
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	key := plugin.NewStruct(ks)
	for _, f := range t.fields {
		if v, ok := o.st.Values[f]; ok {
			key.Values[f] = v
		}
	}
	out := *r
	out.KeySchema, out.Key = ks, key
	return &out, nil
}

type extractField struct {
	onKey bool
	field string
}

func (t extractField) Apply(r *Record) (*Record, error) {
	o, ok, err := target(r, t.onKey, "field extraction")
	if err != nil {
		return nil, err
	}
	if !ok {
		return put(r, t.onKey, nil, nil), nil
	}
	if o.schema == nil {
		v, _ := o.get(t.field)
		return put(r, t.onKey, nil, v), nil
	}
	fs := o.schema.Field(t.field)
	if fs == nil {
		return nil, fmt.Errorf("Unknown field: %s", t.field)
	}
	v, _ := o.get(t.field)
	return put(r, t.onKey, fs, v), nil
}

type cast struct {
	onKey   bool
	whole   string            // cast the whole key/value to this type
	fields  map[string]string // or these fields
	schemas schemaCache
}

var castTypes = map[string]bool{"int8": true, "int16": true, "int32": true, "int64": true, "float32": true, "float64": true, "boolean": true, "string": true}

func newCast(onKey bool, spec string) (Transform, error) {
	items := plugin.SplitList(spec)
	if len(items) == 0 {
		return nil, fmt.Errorf("Invalid value %s for configuration spec: Must specify at least one field to cast.", spec)
	}
	c := &cast{onKey: onKey, fields: map[string]string{}}
	for _, it := range items {
		f, typ, ok := strings.Cut(it, ":")
		if !ok {
			if len(items) != 1 || !castTypes[it] {
				return nil, fmt.Errorf("Invalid value %s for configuration spec: Invalid cast mapping: %s", spec, it)
			}
			c.whole = it
			return c, nil
		}
		if !castTypes[typ] {
			return nil, fmt.Errorf("Invalid value %s for configuration spec: Invalid type found in casting spec: %s", spec, typ)
		}
		c.fields[f] = typ
	}
	return c, nil
}

// castable says whether Cast accepts a field of schema s as its input.
func castable(s *plugin.Schema) bool {
	if s.Name != "" {
		return false
	}
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64, plugin.Float32, plugin.Float64, plugin.Boolean, plugin.String:
		return true
	}
	return false
}

func (t *cast) Apply(r *Record) (*Record, error) {
	if t.whole != "" {
		v, s := r.Value, r.ValueSchema
		if t.onKey {
			v, s = r.Key, r.KeySchema
		}
		var ns *plugin.Schema
		if s != nil {
			if !castable(s) {
				return nil, fmt.Errorf("Cast transformation does not support casting from %s", schemaTypeName(s))
			}
			var err error
			ns, err = t.schemas.get(s, func() (*plugin.Schema, error) {
				c := *s
				c.Type, c.Default = castNames[t.whole], nil
				if s.Default != nil {
					d, err := castTo(s.Default, t.whole)
					if err != nil {
						return nil, err
					}
					c.Default = d
				}
				return &c, nil
			})
			if err != nil {
				return nil, err
			}
		}
		if v == nil {
			return put(r, t.onKey, ns, nil), nil
		}
		c, err := castTo(v, t.whole)
		if err != nil {
			return nil, err
		}
		return put(r, t.onKey, ns, c), nil
	}
	o, ok, err := target(r, t.onKey, "cast types")
	if err != nil || !ok {
		return r, err
	}
	if o.schema == nil {
		m := clone(o.m)
		for f, typ := range t.fields {
			v, ok := m[f]
			if !ok || v == nil {
				continue
			}
			c, err := castTo(v, typ)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f, err)
			}
			m[f] = c
		}
		return put(r, t.onKey, nil, m), nil
	}
	ns, err := t.schemas.get(o.schema, func() (*plugin.Schema, error) {
		s := copySchema(o.schema)
		for i, f := range s.Fields {
			typ, ok := t.fields[f.Name]
			if !ok {
				continue
			}
			if !castable(f.Schema) {
				return nil, fmt.Errorf("Cast transformation does not support casting from %s", schemaTypeName(f.Schema))
			}
			fs := *f.Schema
			fs.Type, fs.Default = castNames[typ], nil
			if f.Schema.Default != nil {
				d, err := castTo(f.Schema.Default, typ)
				if err != nil {
					return nil, err
				}
				fs.Default = d
			}
			s.Fields[i] = plugin.Field{Name: f.Name, Schema: &fs}
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	st := &plugin.Struct{Schema: ns, Values: clone(o.st.Values)}
	for f, typ := range t.fields {
		v := st.Values[f]
		if v == nil {
			continue
		}
		c, err := castTo(v, typ)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		st.Values[f] = c
	}
	return put(r, t.onKey, ns, st), nil
}

// castTo converts a primitive to one of Cast's target types.
func castTo(v any, typ string) (any, error) {
	var f float64
	var isInt bool
	var i int64
	switch x := v.(type) {
	case bool:
		switch typ {
		case "string":
			return strconv.FormatBool(x), nil
		case "boolean":
			return x, nil
		}
		if x {
			i, f = 1, 1
		}
		isInt = true
	case string:
		switch typ {
		case "string":
			return x, nil
		case "boolean":
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, fmt.Errorf("cannot cast %q to boolean", x)
			}
			return b, nil
		}
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			i, f, isInt = n, float64(n), true
		} else if p, err := strconv.ParseFloat(s, 64); err == nil {
			f = p
		} else {
			return nil, fmt.Errorf("cannot cast %q to %s", x, typ)
		}
	case float64, float32:
		f, _ = toFloat64(x)
	default:
		n, err := plugin.ToInt64(v)
		if err != nil {
			return nil, fmt.Errorf("Cast transformation does not support casting from %T", v)
		}
		i, f, isInt = n, float64(n), true
	}
	switch typ {
	case "int8", "int16", "int32", "int64":
		if isInt {
			return i, nil
		}
		return int64(f), nil
	case "float32", "float64":
		return f, nil
	case "boolean":
		return f != 0, nil
	case "string":
		if isInt {
			return strconv.FormatInt(i, 10), nil
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	}
	return nil, fmt.Errorf("unknown cast type %s", typ)
}
