// Package avrodata maps Kafka Connect data (connect/plugin schemas and
// values) to Avro and back, following the rules of Confluent's
// io.confluent.connect.avro.AvroData, so schemas registered by Sluice look
// like those the Confluent AvroConverter registers and vice versa:
//
//   - a struct becomes a record named by the Connect schema name (namespace
//     and name split at the last dot), or io.confluent.connect.avro.ConnectDefault
//     (ConnectDefault2, 3, ... for further unnamed structs of one schema);
//   - an optional schema becomes the union ["null", T] (default null), or
//     [T, "null"] when it has a non-null default;
//   - int8 and int16 become "int" with "connect.type"; Decimal, Date, Time and
//     Timestamp become the Avro logical types decimal (precision from
//     connect.decimal.precision, default 64), date, time-millis and
//     timestamp-millis;
//   - a map with non-string keys becomes an array of
//     io.confluent.connect.avro.MapEntry records {key, value};
//   - the Connect name, version, doc and parameters travel as "connect.name",
//     "connect.version", "connect.doc" and "connect.parameters";
//   - reading back, an enum becomes a string carrying its symbols in
//     parameters (io.confluent.connect.avro.Enum), and a union other than
//     [null, T] a struct io.confluent.connect.avro.Union with one optional
//     field per branch.
//
// Values: ToAvroValue gives goavro's native form for the schema
// ToAvroSchema returned (unions as map[string]any{branch: v}, decimals as
// *big.Rat, int as int32); FromAvroValue takes what a goavro codec decoded
// and returns Connect values in their canonical Go form: every integer type
// as int64, both float types as float64, Decimal as the unscaled
// two's-complement big-endian []byte, Date as int64 days since the epoch,
// Time as int64 milliseconds of the day, Timestamp as int64 Unix
// milliseconds, structs as *plugin.Struct, string-keyed maps as
// map[string]any and other maps as []plugin.MapEntry. ToAvroValue also
// accepts the sized Go types, time.Time for Date/Time/Timestamp, *big.Rat for
// Decimal and map[string]any for a struct.
package avrodata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Names Confluent's AvroData uses.
const (
	Namespace        = "io.confluent.connect.avro"
	DefaultName      = "ConnectDefault"
	MapEntryName     = "MapEntry"
	UnionName        = Namespace + ".Union"
	EnumParam        = Namespace + ".Enum"
	FixedSizeParam   = "connect.fixed.size"
	EnumOrderParam   = "io.sluice.connect.avro.Enum.symbols" // comma-separated symbols in Avro order
	DecimalName      = "org.apache.kafka.connect.data.Decimal"
	DateName         = "org.apache.kafka.connect.data.Date"
	TimeName         = "org.apache.kafka.connect.data.Time"
	TimestampName    = "org.apache.kafka.connect.data.Timestamp"
	ScaleParam       = "scale"
	PrecisionParam   = "connect.decimal.precision"
	defaultPrecision = 64
)

// node is one schema in its Avro form, built once per Connect schema and
// shared by the schema writer and the value converters.
type node struct {
	s        *plugin.Schema
	avro     any    // the JSON form of the non-null branch (or a name reference)
	kind     string // avro type of the non-null branch; "mapentries", "union" for the Connect-only shapes
	logical  string // decimal, date, time-millis, timestamp-millis
	branch   string // goavro's union member name for the non-null branch
	optional bool
	nullLast bool // [T, "null"]: the schema has a non-null default
	scale    int

	fields   []fieldNode // record
	items    *node       // array
	values   *node       // map, map entries
	keys     *node       // map entries
	branches []fieldNode // union struct: field name -> branch
	symbols  []string    // enum, in Avro order
}

type fieldNode struct {
	name string
	n    *node
}

// obj is a JSON object that keeps its keys in insertion order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// builder carries what one conversion shares: defined names and counters.
type builder struct {
	defined  map[string]string // full name -> JSON of its definition
	defaults int               // ConnectDefault records so far
	entries  int               // MapEntry records so far
}

// plans caches conversions by schema pointer: sources build their schemas
// once, so the usual cost is one map lookup per record. Schemas must not be
// changed after first use.
var plans = struct {
	sync.Mutex
	m map[*plugin.Schema]*node
}{m: map[*plugin.Schema]*node{}}

const maxPlans = 4096

func plan(s *plugin.Schema) (*node, error) {
	if s == nil {
		return nil, fmt.Errorf("avrodata: nil schema")
	}
	plans.Lock()
	n := plans.m[s]
	plans.Unlock()
	if n != nil {
		return n, nil
	}
	b := &builder{defined: map[string]string{}}
	n, err := b.build(s, "")
	if err != nil {
		return nil, err
	}
	plans.Lock()
	if len(plans.m) >= maxPlans {
		clear(plans.m)
	}
	plans.m[s] = n
	plans.Unlock()
	return n, nil
}

// ToAvroSchema returns the Avro schema (JSON) for a Connect schema.
func ToAvroSchema(s *plugin.Schema) (string, error) {
	n, err := plan(s)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(n.full())
	if err != nil {
		return "", fmt.Errorf("avrodata: %w", err)
	}
	return string(b), nil
}

// full is the node's JSON with its null branch.
func (n *node) full() any {
	if !n.optional {
		return n.avro
	}
	if n.nullLast {
		return []any{n.avro, "null"}
	}
	return []any{"null", n.avro}
}

// splitName splits a full name at its last dot.
func splitName(full string) (ns, name string) {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// scrub makes a name part valid for Avro ([A-Za-z_][A-Za-z0-9_]*).
func scrub(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

func scrubFull(full string) string {
	parts := strings.Split(full, ".")
	for i, p := range parts {
		parts[i] = scrub(p)
	}
	return strings.Join(parts, ".")
}

// named starts a named type's JSON as Avro's Java library writes it: the
// namespace only where it differs from the enclosing one. It also returns
// the full name goavro gives the type (goavro reads an empty namespace as
// "inherit"), which is its union member name.
func named(typ, full, ns string) (obj, string) {
	tns, name := splitName(full)
	o := obj{{"type", typ}, {"name", name}}
	if tns != ns {
		o = append(o, kv{"namespace", tns})
	}
	if tns == "" {
		return o, qualify(ns, name)
	}
	return o, full
}

func qualify(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "." + name
}

// connectProps are the connect.* properties Confluent adds to a schema.
func connectProps(s *plugin.Schema, withName bool) obj {
	var o obj
	if s.Doc != "" && s.Type != plugin.StructT {
		o = append(o, kv{"connect.doc", s.Doc})
	}
	if s.Version != 0 {
		o = append(o, kv{"connect.version", s.Version})
	}
	if len(s.Parameters) > 0 && (len(s.Parameters) > 1 || s.Parameters[EnumOrderParam] == "") {
		keys := make([]string, 0, len(s.Parameters))
		for k := range s.Parameters {
			if k != EnumOrderParam {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var p obj
		for _, k := range keys {
			p = append(p, kv{k, s.Parameters[k]})
		}
		o = append(o, kv{"connect.parameters", p})
	}
	if withName && s.Name != "" {
		o = append(o, kv{"connect.name", s.Name})
	}
	return o
}

// build converts s; ns is the enclosing Avro namespace (for member names).
func (b *builder) build(s *plugin.Schema, ns string) (*node, error) {
	n := &node{s: s, optional: s.Optional}
	if s.Optional && s.Default != nil {
		n.nullLast = true
	}
	prim := func(t string, extra ...kv) {
		n.kind, n.branch = t, t
		props := connectProps(s, true)
		if len(extra) == 0 && len(props) == 0 {
			n.avro = t
			return
		}
		o := obj{{"type", t}}
		o = append(o, extra...)
		n.avro = append(o, props...)
	}
	switch s.Name {
	case DecimalName:
		if s.Type != plugin.Bytes {
			break
		}
		scale, err := strconv.Atoi(s.Parameters[ScaleParam])
		if err != nil || scale < 0 {
			return nil, fmt.Errorf("avrodata: Decimal schema needs a non-negative %q parameter, got %q", ScaleParam, s.Parameters[ScaleParam])
		}
		prec := defaultPrecision
		if p, ok := s.Parameters[PrecisionParam]; ok {
			if prec, err = strconv.Atoi(p); err != nil || prec < 1 {
				return nil, fmt.Errorf("avrodata: bad %s %q", PrecisionParam, p)
			}
		}
		if scale > prec {
			return nil, fmt.Errorf("avrodata: Decimal scale %d exceeds precision %d", scale, prec)
		}
		props := connectProps(s, true)
		o := obj{{"type", "bytes"}, {"scale", scale}, {"precision", prec}}
		o = append(o, props...)
		n.avro = append(o, kv{"logicalType", "decimal"})
		n.kind, n.logical, n.branch, n.scale = "bytes", "decimal", "bytes.decimal", scale
		if n.optional && n.nullLast {
			// goavro cannot take a decimal default inside a union.
			n.nullLast = false
		}
		return n, nil
	case DateName, TimeName, TimestampName:
		base, lt := "int", "date"
		want := plugin.Int32
		switch s.Name {
		case TimeName:
			lt = "time-millis"
		case TimestampName:
			base, lt, want = "long", "timestamp-millis", plugin.Int64
		}
		if s.Type != want {
			break
		}
		o := obj{{"type", base}}
		o = append(o, connectProps(s, true)...)
		n.avro = append(o, kv{"logicalType", lt})
		n.kind, n.logical, n.branch = base, lt, base+"."+lt
		return n, nil
	}
	switch s.Type {
	case plugin.Int8, plugin.Int16:
		prim("int", kv{"connect.type", string(s.Type)})
	case plugin.Int32:
		prim("int")
	case plugin.Int64:
		prim("long")
	case plugin.Float32:
		prim("float")
	case plugin.Float64:
		prim("double")
	case plugin.Boolean:
		prim("boolean")
	case plugin.Bytes:
		if size := s.Parameters[FixedSizeParam]; size != "" && s.Name != "" {
			sz, err := strconv.Atoi(size)
			if err != nil || sz < 0 {
				return nil, fmt.Errorf("avrodata: bad %s %q", FixedSizeParam, size)
			}
			o, full := named("fixed", scrubFull(s.Name), ns)
			o = append(o, kv{"size", sz})
			o = append(o, connectProps(s, true)...)
			n.kind, n.branch, n.scale = "fixed", full, sz
			return b.define(n, full, o)
		}
		prim("bytes")
	case plugin.String:
		if en := s.Parameters[EnumParam]; en != "" {
			return b.enum(n, en, ns)
		}
		prim("string")
	case plugin.Array:
		if s.Items == nil {
			return nil, fmt.Errorf("avrodata: array schema without items")
		}
		it, err := b.build(s.Items, ns)
		if err != nil {
			return nil, err
		}
		n.items, n.kind, n.branch = it, "array", "array"
		o := obj{{"type", "array"}, {"items", it.full()}}
		n.avro = append(o, connectProps(s, true)...)
	case plugin.Map:
		if s.Keys == nil || s.Values == nil {
			return nil, fmt.Errorf("avrodata: map schema without keys or values")
		}
		if s.Keys.Type == plugin.String && !s.Keys.Optional && s.Keys.Name == "" {
			v, err := b.build(s.Values, ns)
			if err != nil {
				return nil, err
			}
			n.values, n.kind, n.branch = v, "map", "map"
			o := obj{{"type", "map"}, {"values", v.full()}}
			n.avro = append(o, connectProps(s, true)...)
			return n, nil
		}
		return b.mapEntries(n, s, ns)
	case plugin.StructT:
		if s.Name == UnionName {
			return b.union(n, s, ns)
		}
		return b.record(n, s, ns)
	default:
		return nil, fmt.Errorf("avrodata: unknown Connect schema type %q", s.Type)
	}
	return n, nil
}

func (b *builder) enum(n *node, full, ns string) (*node, error) {
	s := n.s
	var syms []string
	prefix := EnumParam + "."
	keys := make([]string, 0, len(s.Parameters))
	for k := range s.Parameters {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	// Confluent keeps symbol order in its ordered parameter map; Go maps
	// have none, so FromAvroSchema also records the order in
	// EnumOrderParam. Without it, symbols are sorted.
	sort.Strings(keys)
	for _, k := range keys {
		syms = append(syms, s.Parameters[k])
	}
	if order := s.Parameters[EnumOrderParam]; order != "" {
		syms = strings.Split(order, ",")
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("avrodata: enum %s without symbols", full)
	}
	o, full := named("enum", scrubFull(full), ns)
	o = append(o, kv{"symbols", syms})
	o = append(o, connectProps(s, true)...)
	n.kind, n.branch, n.symbols = "enum", full, syms
	return b.define(n, full, o)
}

// define records a named type: the first definition is written out, later
// identical ones become a name reference, and a different one is an error.
func (b *builder) define(n *node, full string, o obj) (*node, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	if prev, ok := b.defined[full]; ok {
		if prev != string(j) {
			return nil, fmt.Errorf("avrodata: two different schemas are both named %s", full)
		}
		n.avro = full
		return n, nil
	}
	b.defined[full] = string(j)
	n.avro = o
	return n, nil
}

func (b *builder) record(n *node, s *plugin.Schema, ns string) (*node, error) {
	full := scrubFull(s.Name)
	if s.Name == "" {
		b.defaults++
		full = Namespace + "." + DefaultName
		if b.defaults > 1 {
			full += strconv.Itoa(b.defaults)
		}
	}
	o, full := named("record", full, ns)
	if s.Doc != "" {
		o = append(o, kv{"doc", s.Doc})
	}
	ns, _ = splitName(full)
	fields := make([]any, 0, len(s.Fields))
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if f.Schema == nil {
			return nil, fmt.Errorf("avrodata: field %s of %s has no schema", f.Name, full)
		}
		fname := scrub(f.Name)
		if seen[fname] {
			return nil, fmt.Errorf("avrodata: duplicate field %s in %s", fname, full)
		}
		seen[fname] = true
		fn, err := b.build(f.Schema, ns)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		n.fields = append(n.fields, fieldNode{f.Name, fn})
		fo := obj{{"name", fname}, {"type", fn.full()}}
		if f.Schema.Doc != "" {
			fo = append(fo, kv{"doc", f.Schema.Doc})
		}
		switch {
		case f.Schema.Default != nil:
			d, err := avroDefault(fn, f.Schema.Default, !fn.nullLast && fn.optional)
			if err != nil {
				return nil, fmt.Errorf("field %s default: %w", f.Name, err)
			}
			fo = append(fo, kv{"default", d})
		case f.Schema.Optional:
			fo = append(fo, kv{"default", nil})
		}
		fields = append(fields, fo)
	}
	o = append(o, kv{"fields", fields})
	o = append(o, connectProps(s, true)...)
	n.kind, n.branch = "record", full
	return b.define(n, full, o)
}

func (b *builder) mapEntries(n *node, s *plugin.Schema, ns string) (*node, error) {
	b.entries++
	name := MapEntryName
	if b.entries > 1 {
		name += strconv.Itoa(b.entries)
	}
	full := Namespace + "." + name
	k, err := b.build(s.Keys, Namespace)
	if err != nil {
		return nil, err
	}
	v, err := b.build(s.Values, Namespace)
	if err != nil {
		return nil, err
	}
	rec, _ := named("record", full, ns)
	rec = append(rec, kv{"fields", []any{
		obj{{"name", "key"}, {"type", k.full()}},
		obj{{"name", "value"}, {"type", v.full()}},
	}})
	b.defined[full] = ""
	o := obj{{"type", "array"}, {"items", rec}}
	n.avro = append(o, connectProps(s, true)...)
	n.kind, n.branch, n.keys, n.values = "mapentries", "array", k, v
	return n, nil
}

// union turns Confluent's Union struct back into an Avro union; each
// field is one branch.
func (b *builder) union(n *node, s *plugin.Schema, ns string) (*node, error) {
	var members []any
	if s.Optional {
		// The null member joins the union itself (a union cannot nest).
		n.optional, n.nullLast = false, false
		members = append(members, "null")
	}
	for _, f := range s.Fields {
		if f.Schema == nil {
			return nil, fmt.Errorf("avrodata: union branch %s has no schema", f.Name)
		}
		c := *f.Schema
		c.Optional = false
		fn, err := b.build(&c, ns)
		if err != nil {
			return nil, err
		}
		n.branches = append(n.branches, fieldNode{f.Name, fn})
		members = append(members, fn.avro)
	}
	if len(n.branches) == 0 {
		return nil, fmt.Errorf("avrodata: empty union")
	}
	n.avro = members
	n.kind, n.branch = "union", "union"
	return n, nil
}

// avroDefault converts a Connect default to the JSON Avro wants in a field
// default; asUnion says the first union branch is null.
func avroDefault(n *node, v any, nullFirst bool) (any, error) {
	if v == nil {
		return nil, nil
	}
	if nullFirst {
		// ["null", T] can only default to null.
		return nil, nil
	}
	native, err := toAvro(n, v, false)
	if err != nil {
		return nil, err
	}
	return jsonDefault(n, native)
}

// jsonDefault turns a native value (without union wrapping) into the JSON
// Avro defaults use: bytes as ISO-8859-1 strings, records as objects.
func jsonDefault(n *node, native any) (any, error) {
	switch n.kind {
	case "bytes":
		if n.logical == "decimal" {
			bs, err := bytesFromNative(n, native)
			if err != nil {
				return nil, err
			}
			return latin1(bs), nil
		}
		if bs, ok := native.([]byte); ok {
			return latin1(bs), nil
		}
	case "record":
		m, _ := native.(map[string]any)
		out := obj{}
		for _, f := range n.fields {
			d, err := jsonDefault(f.n, unwrap(f.n, m[f.name]))
			if err != nil {
				return nil, err
			}
			out = append(out, kv{scrub(f.name), d})
		}
		return out, nil
	case "array":
		xs, _ := native.([]any)
		out := make([]any, 0, len(xs))
		for _, x := range xs {
			d, err := jsonDefault(n.items, unwrap(n.items, x))
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	case "mapentries":
		xs, _ := native.([]any)
		out := make([]any, 0, len(xs))
		for _, x := range xs {
			e, _ := x.(map[string]any)
			k, err := jsonDefault(n.keys, unwrap(n.keys, e["key"]))
			if err != nil {
				return nil, err
			}
			v, err := jsonDefault(n.values, unwrap(n.values, e["value"]))
			if err != nil {
				return nil, err
			}
			out = append(out, obj{{"key", k}, {"value", v}})
		}
		return out, nil
	case "map":
		m, _ := native.(map[string]any)
		out := map[string]any{}
		for k, x := range m {
			d, err := jsonDefault(n.values, unwrap(n.values, x))
			if err != nil {
				return nil, err
			}
			out[k] = d
		}
		return out, nil
	case "union":
		m, _ := native.(map[string]any)
		for _, br := range n.branches {
			if x, ok := m[br.n.branch]; ok {
				return jsonDefault(br.n, x)
			}
		}
		return nil, nil
	}
	return native, nil
}

// unwrap removes goavro's union wrapping of an optional value.
func unwrap(n *node, v any) any {
	if !n.optional || v == nil {
		return v
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if x, ok := m[n.branch]; ok {
			return x
		}
	}
	return v
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
