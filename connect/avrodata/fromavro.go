package avrodata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/connect/plugin"
)

// FromAvroSchema reads an Avro schema (JSON) into a Connect schema, as
// Confluent's AvroData.toConnectSchema does.
func FromAvroSchema(avroJSON string) (*plugin.Schema, error) {
	d := json.NewDecoder(strings.NewReader(avroJSON))
	d.UseNumber()
	var j any
	if err := d.Decode(&j); err != nil {
		return nil, fmt.Errorf("avrodata: invalid Avro schema JSON: %w", err)
	}
	r := &reader{named: map[string]*plugin.Schema{}}
	return r.schema(j, "")
}

type reader struct {
	named map[string]*plugin.Schema // full Avro name -> Connect schema
}

func isConfluentDefault(full string) bool {
	ns, name := splitName(full)
	return ns == Namespace && strings.HasPrefix(name, DefaultName)
}

func isMapEntry(full string) bool {
	ns, name := splitName(full)
	return ns == Namespace && strings.HasPrefix(name, MapEntryName)
}

func (r *reader) schema(j any, ns string) (*plugin.Schema, error) {
	switch x := j.(type) {
	case string:
		return r.byName(x, ns, nil)
	case []any:
		return r.union(x, ns)
	case map[string]any:
		return r.object(x, ns)
	}
	return nil, fmt.Errorf("avrodata: unexpected Avro schema %v", j)
}

func primitive(t string) (plugin.SchemaType, bool) {
	switch t {
	case "int":
		return plugin.Int32, true
	case "long":
		return plugin.Int64, true
	case "float":
		return plugin.Float32, true
	case "double":
		return plugin.Float64, true
	case "boolean":
		return plugin.Boolean, true
	case "string":
		return plugin.String, true
	case "bytes":
		return plugin.Bytes, true
	}
	return "", false
}

func (r *reader) byName(t, ns string, props map[string]any) (*plugin.Schema, error) {
	if pt, ok := primitive(t); ok {
		return &plugin.Schema{Type: pt}, nil
	}
	if t == "null" {
		return nil, fmt.Errorf("avrodata: a null schema outside a union has no Connect equivalent")
	}
	if s, ok := r.named[t]; ok {
		return s, nil
	}
	if !strings.Contains(t, ".") {
		if s, ok := r.named[qualify(ns, t)]; ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("avrodata: unknown Avro type %q", t)
}

// applyProps copies connect.* properties onto s.
func applyProps(s *plugin.Schema, m map[string]any) error {
	if v, ok := m["connect.name"].(string); ok {
		s.Name = v
	}
	if v, ok := m["connect.version"]; ok {
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil {
			return fmt.Errorf("avrodata: bad connect.version %v", v)
		}
		s.Version = n
	}
	if v, ok := m["connect.doc"].(string); ok {
		s.Doc = v
	}
	if p, ok := m["connect.parameters"].(map[string]any); ok {
		if s.Parameters == nil {
			s.Parameters = map[string]string{}
		}
		for k, v := range p {
			s.Parameters[k] = fmt.Sprint(v)
		}
	}
	return nil
}

func (r *reader) object(m map[string]any, ns string) (*plugin.Schema, error) {
	t, _ := m["type"].(string)
	if t == "" {
		if inner, ok := m["type"]; ok {
			// {"type": {...}} or {"type": [...]}: a wrapped schema.
			return r.schema(inner, ns)
		}
		return nil, fmt.Errorf("avrodata: schema without a type: %v", m)
	}
	lt, _ := m["logicalType"].(string)
	switch {
	case lt == "decimal" && (t == "bytes" || t == "fixed"):
		scale, _ := strconv.Atoi(fmt.Sprint(m["scale"]))
		if m["scale"] == nil {
			scale = 0
		}
		prec, _ := strconv.Atoi(fmt.Sprint(m["precision"]))
		s := &plugin.Schema{Type: plugin.Bytes}
		if err := applyProps(s, m); err != nil {
			return nil, err
		}
		s.Name, s.Version = DecimalName, 1
		if s.Parameters == nil {
			s.Parameters = map[string]string{}
		}
		s.Parameters[ScaleParam] = strconv.Itoa(scale)
		if _, ok := m["connect.parameters"]; !ok && prec != defaultPrecision {
			s.Parameters[PrecisionParam] = strconv.Itoa(prec)
		}
		if t == "fixed" {
			if err := r.define(m, ns, s); err != nil {
				return nil, err
			}
		}
		return s, nil
	case lt == "date" && t == "int", lt == "time-millis" && t == "int", lt == "timestamp-millis" && t == "long":
		s := &plugin.Schema{Type: plugin.Int32}
		if err := applyProps(s, m); err != nil {
			return nil, err
		}
		s.Version = 1
		switch lt {
		case "date":
			s.Name = DateName
		case "time-millis":
			s.Name = TimeName
		default:
			s.Type, s.Name = plugin.Int64, TimestampName
		}
		return s, nil
	}
	switch t {
	case "record", "error":
		return r.record(m, ns)
	case "enum":
		full, err := fullName(m, ns)
		if err != nil {
			return nil, err
		}
		syms, _ := m["symbols"].([]any)
		s := &plugin.Schema{Type: plugin.String}
		if err := applyProps(s, m); err != nil {
			return nil, err
		}
		if s.Parameters == nil {
			s.Parameters = map[string]string{}
		}
		s.Parameters[EnumParam] = full
		var order []string
		for _, y := range syms {
			sym := fmt.Sprint(y)
			s.Parameters[EnumParam+"."+sym] = sym
			order = append(order, sym)
		}
		s.Parameters[EnumOrderParam] = strings.Join(order, ",")
		if d, ok := m["doc"].(string); ok && s.Doc == "" {
			s.Doc = d
		}
		r.named[full] = s
		return s, nil
	case "fixed":
		full, err := fullName(m, ns)
		if err != nil {
			return nil, err
		}
		s := &plugin.Schema{Type: plugin.Bytes}
		if err := applyProps(s, m); err != nil {
			return nil, err
		}
		if s.Name == "" {
			s.Name = full
		}
		if s.Parameters == nil {
			s.Parameters = map[string]string{}
		}
		s.Parameters[FixedSizeParam] = fmt.Sprint(m["size"])
		r.named[full] = s
		return s, nil
	case "array":
		items, ok := m["items"]
		if !ok {
			return nil, fmt.Errorf("avrodata: array without items")
		}
		if im, ok := items.(map[string]any); ok && (im["type"] == "record") {
			if full, err := fullName(im, ns); err == nil && isMapEntry(full) {
				return r.mapEntries(m, im, full, ns)
			}
		}
		it, err := r.schema(items, ns)
		if err != nil {
			return nil, err
		}
		s := &plugin.Schema{Type: plugin.Array, Items: it}
		return s, applyProps(s, m)
	case "map":
		vals, ok := m["values"]
		if !ok {
			return nil, fmt.Errorf("avrodata: map without values")
		}
		v, err := r.schema(vals, ns)
		if err != nil {
			return nil, err
		}
		s := &plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.String}, Values: v}
		return s, applyProps(s, m)
	}
	base, err := r.byName(t, ns, m)
	if err != nil {
		return nil, err
	}
	if _, prim := primitive(t); !prim {
		return base, nil
	}
	s := *base
	if ct, ok := m["connect.type"].(string); ok && t == "int" {
		switch ct {
		case "int8":
			s.Type = plugin.Int8
		case "int16":
			s.Type = plugin.Int16
		}
	}
	return &s, applyProps(&s, m)
}

func fullName(m map[string]any, ns string) (string, error) {
	name, _ := m["name"].(string)
	if name == "" {
		return "", fmt.Errorf("avrodata: named type without a name: %v", m)
	}
	if strings.Contains(name, ".") {
		return name, nil
	}
	if n, ok := m["namespace"].(string); ok {
		return qualify(n, name), nil
	}
	return qualify(ns, name), nil
}

// define registers a named type for later references.
func (r *reader) define(m map[string]any, ns string, s *plugin.Schema) error {
	full, err := fullName(m, ns)
	if err != nil {
		return err
	}
	r.named[full] = s
	return nil
}

func (r *reader) record(m map[string]any, ns string) (*plugin.Schema, error) {
	full, err := fullName(m, ns)
	if err != nil {
		return nil, err
	}
	s := &plugin.Schema{Type: plugin.StructT}
	if !isConfluentDefault(full) {
		s.Name = full
	}
	if d, ok := m["doc"].(string); ok {
		s.Doc = d
	}
	if err := applyProps(s, m); err != nil {
		return nil, err
	}
	r.named[full] = s // before the fields: a record may refer to itself
	rns, _ := splitName(full)
	fields, _ := m["fields"].([]any)
	for _, f := range fields {
		fm, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("avrodata: bad field in %s", full)
		}
		name, _ := fm["name"].(string)
		ft, ok := fm["type"]
		if name == "" || !ok {
			return nil, fmt.Errorf("avrodata: field without name or type in %s", full)
		}
		fs, err := r.schema(ft, rns)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		if fs == r.named[full] {
			return nil, fmt.Errorf("avrodata: recursive record %s has no Connect equivalent", full)
		}
		c := *fs
		if d, ok := fm["doc"].(string); ok {
			c.Doc = d
		}
		if d, ok := fm["default"]; ok && d != nil {
			v, err := defaultValue(&c, d)
			if err != nil {
				return nil, fmt.Errorf("field %s default: %w", name, err)
			}
			c.Default = v
		}
		s.Fields = append(s.Fields, plugin.Field{Name: name, Schema: &c})
	}
	return s, nil
}

func (r *reader) mapEntries(m, im map[string]any, full, ns string) (*plugin.Schema, error) {
	fields, _ := im["fields"].([]any)
	var k, v *plugin.Schema
	for _, f := range fields {
		fm, _ := f.(map[string]any)
		fs, err := r.schema(fm["type"], Namespace)
		if err != nil {
			return nil, err
		}
		switch fm["name"] {
		case "key":
			k = fs
		case "value":
			v = fs
		}
	}
	if k == nil || v == nil {
		return nil, fmt.Errorf("avrodata: %s needs key and value fields", full)
	}
	r.named[full] = &plugin.Schema{Type: plugin.StructT, Name: full}
	s := &plugin.Schema{Type: plugin.Map, Keys: k, Values: v}
	return s, applyProps(s, m)
}

// union reads [null, T] as an optional T and anything else as Confluent's
// Union struct with one optional field per member.
func (r *reader) union(members []any, ns string) (*plugin.Schema, error) {
	var nonNull []any
	hasNull := false
	for _, x := range members {
		if x == "null" {
			hasNull = true
			continue
		}
		nonNull = append(nonNull, x)
	}
	if len(nonNull) == 1 && hasNull {
		s, err := r.schema(nonNull[0], ns)
		if err != nil {
			return nil, err
		}
		c := *s
		c.Optional = true
		return &c, nil
	}
	if len(nonNull) == 0 {
		return nil, fmt.Errorf("avrodata: a union of only null has no Connect equivalent")
	}
	u := &plugin.Schema{Type: plugin.StructT, Name: UnionName, Optional: hasNull}
	for _, x := range nonNull {
		s, err := r.schema(x, ns)
		if err != nil {
			return nil, err
		}
		c := *s
		c.Optional = true
		u.Fields = append(u.Fields, plugin.Field{Name: memberName(x, ns), Schema: &c})
	}
	return u, nil
}

// memberName names a union member's field as Confluent does: the type name
// for unnamed types, the simple name for named ones.
func memberName(x any, ns string) string {
	switch t := x.(type) {
	case string:
		_, simple := splitName(t)
		return simple
	case map[string]any:
		if n, ok := t["name"].(string); ok {
			_, simple := splitName(n)
			return simple
		}
		if tt, ok := t["type"].(string); ok {
			return tt
		}
	case []any:
		return "union"
	}
	return "member"
}

// defaultValue converts an Avro JSON default for schema s into Connect data.
func defaultValue(s *plugin.Schema, d any) (any, error) {
	if d == nil {
		return nil, nil
	}
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64:
		n, ok := d.(json.Number)
		if !ok {
			return nil, fmt.Errorf("default %v is not a number", d)
		}
		return n.Int64()
	case plugin.Float32, plugin.Float64:
		n, ok := d.(json.Number)
		if !ok {
			return nil, fmt.Errorf("default %v is not a number", d)
		}
		return n.Float64()
	case plugin.Boolean:
		b, ok := d.(bool)
		if !ok {
			return nil, fmt.Errorf("default %v is not a boolean", d)
		}
		return b, nil
	case plugin.String:
		str, ok := d.(string)
		if !ok {
			return nil, fmt.Errorf("default %v is not a string", d)
		}
		return str, nil
	case plugin.Bytes:
		str, ok := d.(string)
		if !ok {
			return nil, fmt.Errorf("default %v is not a string", d)
		}
		var b bytes.Buffer
		for _, r := range str {
			if r > 0xff {
				return nil, fmt.Errorf("bytes default has a character above U+00FF")
			}
			b.WriteByte(byte(r))
		}
		return b.Bytes(), nil
	case plugin.Array:
		xs, ok := d.([]any)
		if !ok {
			return nil, fmt.Errorf("default %v is not an array", d)
		}
		out := make([]any, len(xs))
		for i, x := range xs {
			v, err := defaultValue(s.Items, x)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case plugin.Map:
		if s.Keys.Type == plugin.String && s.Keys.Name == "" {
			m, ok := d.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("default %v is not an object", d)
			}
			out := make(map[string]any, len(m))
			for k, x := range m {
				v, err := defaultValue(s.Values, x)
				if err != nil {
					return nil, err
				}
				out[k] = v
			}
			return out, nil
		}
		xs, ok := d.([]any)
		if !ok {
			return nil, fmt.Errorf("default %v is not an array", d)
		}
		out := make([]plugin.MapEntry, 0, len(xs))
		for _, x := range xs {
			e, _ := x.(map[string]any)
			k, err := defaultValue(s.Keys, e["key"])
			if err != nil {
				return nil, err
			}
			v, err := defaultValue(s.Values, e["value"])
			if err != nil {
				return nil, err
			}
			out = append(out, plugin.MapEntry{Key: k, Value: v})
		}
		return out, nil
	case plugin.StructT:
		m, ok := d.(map[string]any)
		if s.Name == UnionName {
			// A union's default belongs to its first member.
			if len(s.Fields) == 0 {
				return nil, nil
			}
			v, err := defaultValue(s.Fields[0].Schema, d)
			if err != nil {
				return nil, err
			}
			return plugin.NewStruct(s).Put(s.Fields[0].Name, v), nil
		}
		if !ok {
			return nil, fmt.Errorf("default %v is not an object", d)
		}
		st := plugin.NewStruct(s)
		for _, f := range s.Fields {
			if x, ok := m[f.Name]; ok {
				v, err := defaultValue(f.Schema, x)
				if err != nil {
					return nil, err
				}
				if v != nil {
					st.Values[f.Name] = v
				}
			}
		}
		return st, nil
	}
	return nil, fmt.Errorf("default for unknown type %s", s.Type)
}
