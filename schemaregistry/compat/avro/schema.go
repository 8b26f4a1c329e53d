// Package avro parses Avro schemas into a plain model, renders their
// canonical, normalized and Parsing Canonical Forms, and checks reader/writer
// compatibility by the Avro specification's schema resolution rules at the
// seven levels of the Confluent Schema Registry.
//
// It is a pure core: no I/O, no goroutines. Parsing also runs goavro over
// self-contained schemas as a second opinion, so a schema we accept is one the
// Go serializers can use.
package avro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// Kind is an Avro type.
type Kind int

// The Avro types.
const (
	Null Kind = iota
	Boolean
	Int
	Long
	Float
	Double
	Bytes
	String
	Record
	Enum
	Array
	Map
	Union
	Fixed
)

var kindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "union", "fixed"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

var primitives = map[string]Kind{"null": Null, "boolean": Boolean, "int": Int, "long": Long, "float": Float, "double": Double, "bytes": Bytes, "string": String}

// Schema is one node of a parsed Avro schema. Named types (record, enum,
// fixed) are shared: every reference to a name points at the same node, so
// recursive schemas are cyclic graphs.
type Schema struct {
	Kind Kind
	// Name is the full name of a named type ("ns.Name"); IsError marks a
	// record declared as "error".
	Name    string
	IsError bool
	Aliases []string // full names
	Doc     string
	Fields  []*Field  // record
	Symbols []string  // enum
	Default *string   // enum default symbol
	Items   *Schema   // array
	Values  *Schema   // map
	Types   []*Schema // union branches
	Size    int       // fixed
	// Props holds every other attribute (logicalType, precision, custom
	// properties), kept in the order written.
	Props []Prop
}

// Field is a record field.
type Field struct {
	Name       string
	Aliases    []string
	Doc        string
	Type       *Schema
	Default    json.RawMessage // nil when the field has no default
	Order      string
	Props      []Prop
	defaultSet bool
}

// HasDefault reports whether the field declares a default (null included).
func (f *Field) HasDefault() bool { return f.defaultSet }

// Prop is one extra attribute of a schema or field.
type Prop struct {
	Key   string
	Value json.RawMessage
}

// Names resolves named types by full name. A Names may be shared by several
// Parse calls so one schema can refer to the named types of another
// (Confluent schema references).
type Names map[string]*Schema

// ErrInvalid wraps every parse error.
var ErrInvalid = errors.New("invalid Avro schema")

// Parse parses one schema. Named types it defines are added to names (which
// may be nil) and may use those already there.
func Parse(text string, names Names) (*Schema, error) {
	if names == nil {
		names = Names{}
	}
	var raw json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the schema", ErrInvalid)
	}
	p := &parser{names: names, external: len(names) > 0}
	s, err := p.parse(raw, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// goavro as a second opinion, where it can see the whole schema.
	if !p.external {
		if _, err := goavro.NewCodec(Canonical(s)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return s, nil
}

type parser struct {
	names    Names
	external bool // names held types from elsewhere, so goavro cannot check alone
	depth    int
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func validFullName(n string) bool {
	for _, part := range strings.Split(n, ".") {
		if !nameRE.MatchString(part) {
			return false
		}
	}
	return true
}

func namespaceOf(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i]
	}
	return ""
}

func (p *parser) parse(raw json.RawMessage, ns string) (*Schema, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 200 {
		return nil, errors.New("schema nested too deeply")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty schema")
	}
	switch raw[0] {
	case '"':
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return nil, err
		}
		return p.resolve(name, ns)
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		return p.union(items, ns)
	case '{':
		return p.object(raw, ns)
	}
	return nil, fmt.Errorf("not a schema: %s", truncate(raw))
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

func (p *parser) resolve(name, ns string) (*Schema, error) {
	if k, ok := primitives[name]; ok {
		return &Schema{Kind: k}, nil
	}
	if s, ok := p.names[fullName(name, ns)]; ok {
		return s, nil
	}
	if s, ok := p.names[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("undefined name: %q", name)
}

func (p *parser) union(items []json.RawMessage, ns string) (*Schema, error) {
	u := &Schema{Kind: Union}
	seen := map[string]bool{}
	for i, it := range items {
		b, err := p.parse(it, ns)
		if err != nil {
			return nil, fmt.Errorf("union branch %d: %w", i, err)
		}
		if b.Kind == Union {
			return nil, errors.New("unions may not immediately contain other unions")
		}
		key := b.Kind.String()
		if b.Name != "" {
			key = b.Name
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate in union: %s", key)
		}
		seen[key] = true
		u.Types = append(u.Types, b)
	}
	return u, nil
}

// object fields in a stable order; json.RawMessage keeps values untouched.
type member struct {
	key string
	val json.RawMessage
}

func members(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, fmt.Errorf("duplicate attribute %q", k)
		}
		seen[k] = true
		out = append(out, member{k, v})
	}
	return out, nil
}

func get(ms []member, k string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.key == k {
			return m.val, true
		}
	}
	return nil, false
}

func getString(ms []member, k string) (string, bool, error) {
	v, ok := get(ms, k)
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, fmt.Errorf("%q must be a string", k)
	}
	return s, true, nil
}

func getStrings(ms []member, k string) ([]string, error) {
	v, ok := get(ms, k)
	if !ok {
		return nil, nil
	}
	var s []string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%q must be an array of strings", k)
	}
	return s, nil
}

var reserved = map[string]bool{"type": true, "name": true, "namespace": true, "doc": true, "aliases": true,
	"fields": true, "symbols": true, "default": true, "items": true, "values": true, "size": true}

func extraProps(ms []member) []Prop {
	var out []Prop
	for _, m := range ms {
		if !reserved[m.key] {
			out = append(out, Prop{m.key, m.val})
		}
	}
	return out
}

func (p *parser) object(raw json.RawMessage, ns string) (*Schema, error) {
	ms, err := members(raw)
	if err != nil {
		return nil, err
	}
	tv, ok := get(ms, "type")
	if !ok {
		return nil, errors.New(`no "type" attribute`)
	}
	var typ string
	if err := json.Unmarshal(tv, &typ); err != nil {
		// {"type": {...}} or {"type": [...]}: a wrapped schema.
		return p.parse(tv, ns)
	}
	if k, ok := primitives[typ]; ok {
		return &Schema{Kind: k, Props: extraProps(ms)}, nil
	}
	switch typ {
	case "record", "error", "enum", "fixed":
		return p.named(typ, ms, ns)
	case "array":
		iv, ok := get(ms, "items")
		if !ok {
			return nil, errors.New(`array without "items"`)
		}
		items, err := p.parse(iv, ns)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		return &Schema{Kind: Array, Items: items, Props: extraProps(ms)}, nil
	case "map":
		vv, ok := get(ms, "values")
		if !ok {
			return nil, errors.New(`map without "values"`)
		}
		values, err := p.parse(vv, ns)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		return &Schema{Kind: Map, Values: values, Props: extraProps(ms)}, nil
	}
	// A named type written as {"type": "com.acme.X"}.
	return p.resolve(typ, ns)
}

func (p *parser) named(typ string, ms []member, ns string) (*Schema, error) {
	name, ok, err := getString(ms, "name")
	if err != nil {
		return nil, err
	}
	if !ok || name == "" {
		return nil, fmt.Errorf("%s without a name", typ)
	}
	space, hasNS, err := getString(ms, "namespace")
	if err != nil {
		return nil, err
	}
	if !hasNS {
		space = ns
	}
	full := fullName(name, space)
	if !validFullName(full) {
		return nil, fmt.Errorf("invalid name %q", full)
	}
	if _, ok := primitives[full]; ok {
		return nil, fmt.Errorf("a named type may not be called %q", full)
	}
	if _, dup := p.names[full]; dup {
		return nil, fmt.Errorf("name %q defined twice", full)
	}
	s := &Schema{Name: full, Props: extraProps(ms)}
	inner := namespaceOf(full)
	aliases, err := getStrings(ms, "aliases")
	if err != nil {
		return nil, err
	}
	for _, a := range aliases {
		a = fullName(a, inner)
		if !validFullName(a) {
			return nil, fmt.Errorf("invalid alias %q", a)
		}
		s.Aliases = append(s.Aliases, a)
	}
	if s.Doc, _, err = getString(ms, "doc"); err != nil {
		return nil, err
	}
	switch typ {
	case "fixed":
		s.Kind = Fixed
		v, ok := get(ms, "size")
		if !ok {
			return nil, fmt.Errorf("fixed %s without size", full)
		}
		if err := json.Unmarshal(v, &s.Size); err != nil || s.Size < 0 {
			return nil, fmt.Errorf("fixed %s: size must be a non-negative integer", full)
		}
		p.names[full] = s
	case "enum":
		s.Kind = Enum
		v, ok := get(ms, "symbols")
		if !ok {
			return nil, fmt.Errorf("enum %s without symbols", full)
		}
		if err := json.Unmarshal(v, &s.Symbols); err != nil {
			return nil, fmt.Errorf("enum %s: symbols must be an array of strings", full)
		}
		seen := map[string]bool{}
		for _, sym := range s.Symbols {
			if !nameRE.MatchString(sym) {
				return nil, fmt.Errorf("enum %s: invalid symbol %q", full, sym)
			}
			if seen[sym] {
				return nil, fmt.Errorf("enum %s: duplicate symbol %q", full, sym)
			}
			seen[sym] = true
		}
		d, ok, err := getString(ms, "default")
		if err != nil {
			return nil, err
		}
		if ok {
			if !seen[d] {
				return nil, fmt.Errorf("enum %s: default %q is not a symbol", full, d)
			}
			s.Default = &d
		}
		p.names[full] = s
	default:
		s.Kind = Record
		s.IsError = typ == "error"
		p.names[full] = s // before the fields, so they may refer to it
		fv, ok := get(ms, "fields")
		if !ok {
			return nil, fmt.Errorf("record %s without fields", full)
		}
		var fields []json.RawMessage
		if err := json.Unmarshal(fv, &fields); err != nil {
			return nil, fmt.Errorf("record %s: fields must be an array", full)
		}
		seen := map[string]bool{}
		for i, f := range fields {
			fd, err := p.field(f, inner)
			if err != nil {
				return nil, fmt.Errorf("record %s field %d: %w", full, i, err)
			}
			if seen[fd.Name] {
				return nil, fmt.Errorf("record %s: duplicate field %q", full, fd.Name)
			}
			seen[fd.Name] = true
			s.Fields = append(s.Fields, fd)
		}
	}
	return s, nil
}

func (p *parser) field(raw json.RawMessage, ns string) (*Field, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' {
		return nil, errors.New("a field must be an object")
	}
	ms, err := members(raw)
	if err != nil {
		return nil, err
	}
	f := &Field{}
	name, ok, err := getString(ms, "name")
	if err != nil {
		return nil, err
	}
	if !ok || !nameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid field name %q", name)
	}
	f.Name = name
	if f.Doc, _, err = getString(ms, "doc"); err != nil {
		return nil, err
	}
	if f.Aliases, err = getStrings(ms, "aliases"); err != nil {
		return nil, err
	}
	tv, ok := get(ms, "type")
	if !ok {
		return nil, fmt.Errorf("field %q without type", name)
	}
	if f.Type, err = p.parse(tv, ns); err != nil {
		return nil, fmt.Errorf("field %q: %w", name, err)
	}
	if d, ok := get(ms, "default"); ok {
		if err := validDefault(f.Type, d, 0); err != nil {
			return nil, fmt.Errorf("field %q: invalid default %s: %v", name, truncate(d), err)
		}
		f.Default = d
		f.defaultSet = true
	}
	if o, ok, err := getString(ms, "order"); err != nil {
		return nil, err
	} else if ok {
		if o != "ascending" && o != "descending" && o != "ignore" {
			return nil, fmt.Errorf("field %q: invalid order %q", name, o)
		}
		f.Order = o
	}
	for _, m := range ms {
		switch m.key {
		case "name", "doc", "aliases", "type", "default", "order":
		default:
			f.Props = append(f.Props, Prop{m.key, m.val})
		}
	}
	return f, nil
}

// validDefault checks a default value against its type. A union's default may
// match any branch, as Avro's Java implementation accepts.
func validDefault(s *Schema, v json.RawMessage, depth int) error {
	if depth > 100 {
		return errors.New("default nested too deeply")
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return err
	}
	return checkValue(s, x, depth)
}

func checkValue(s *Schema, x any, depth int) error {
	if depth > 100 {
		return errors.New("default nested too deeply")
	}
	bad := fmt.Errorf("not a valid %s", s.Kind)
	switch s.Kind {
	case Null:
		if x != nil {
			return bad
		}
	case Boolean:
		if _, ok := x.(bool); !ok {
			return bad
		}
	case Int, Long:
		n, ok := x.(json.Number)
		if !ok {
			return bad
		}
		i, err := n.Int64()
		if err != nil {
			return bad
		}
		if s.Kind == Int && (i < math.MinInt32 || i > math.MaxInt32) {
			return bad
		}
	case Float, Double:
		switch v := x.(type) {
		case json.Number:
		case string:
			if v != "NaN" && v != "Infinity" && v != "-Infinity" {
				return bad
			}
		default:
			return bad
		}
	case Bytes, String, Fixed:
		if _, ok := x.(string); !ok {
			return bad
		}
	case Enum:
		sym, ok := x.(string)
		if !ok {
			return bad
		}
		for _, y := range s.Symbols {
			if y == sym {
				return nil
			}
		}
		return bad
	case Array:
		arr, ok := x.([]any)
		if !ok {
			return bad
		}
		for _, e := range arr {
			if err := checkValue(s.Items, e, depth+1); err != nil {
				return err
			}
		}
	case Map:
		m, ok := x.(map[string]any)
		if !ok {
			return bad
		}
		for _, e := range m {
			if err := checkValue(s.Values, e, depth+1); err != nil {
				return err
			}
		}
	case Record:
		m, ok := x.(map[string]any)
		if !ok {
			return bad
		}
		for _, f := range s.Fields {
			v, ok := m[f.Name]
			if !ok {
				if f.defaultSet {
					continue
				}
				return fmt.Errorf("record %s default lacks field %q", s.Name, f.Name)
			}
			if err := checkValue(f.Type, v, depth+1); err != nil {
				return err
			}
		}
	case Union:
		for _, b := range s.Types {
			if checkValue(b, x, depth+1) == nil {
				return nil
			}
		}
		return errors.New("matches no branch of the union")
	}
	return nil
}
