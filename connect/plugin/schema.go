package plugin

import (
	"encoding/json"
	"sort"
)

// Schema is a Kafka Connect schema: what the JsonConverter writes under
// "schema" with schemas.enable=true, and what the Avro converter maps to an
// Avro schema. A record with a nil schema is schemaless; converters then infer
// what they need from the value.
//
// Values under a schema use these Go types: int8..int64 as int64 (or the
// sized Go type), float32/float64 as float64, boolean as bool, string as
// string, bytes as []byte, array as []any, map as map[string]any (string keys)
// or []MapEntry (other keys), struct as *Struct. Converters hand sinks the
// canonical forms: every integer type as int64 and both float types as
// float64. Logical types travel by Name
// (for example "org.apache.kafka.connect.data.Decimal" with []byte and the
// "scale" parameter, "org.apache.kafka.connect.data.Timestamp" as int64
// milliseconds, "org.apache.kafka.connect.data.Date" as int64 days since the
// epoch, "org.apache.kafka.connect.data.Time" as int64 milliseconds of the
// day, or Debezium's "io.debezium.time.MicroTimestamp").
type Schema struct {
	Type       SchemaType        `json:"type"`
	Optional   bool              `json:"optional"`
	Default    any               `json:"default,omitempty"`
	Name       string            `json:"name,omitempty"`
	Version    int               `json:"version,omitempty"`
	Doc        string            `json:"doc,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Fields     []Field           `json:"fields,omitempty"` // struct
	Items      *Schema           `json:"items,omitempty"`  // array
	Keys       *Schema           `json:"keys,omitempty"`   // map
	Values     *Schema           `json:"values,omitempty"` // map
}

// SchemaType is a Kafka Connect schema type as JSON names it.
type SchemaType string

// Kafka Connect's schema types.
const (
	Int8    SchemaType = "int8"
	Int16   SchemaType = "int16"
	Int32   SchemaType = "int32"
	Int64   SchemaType = "int64"
	Float32 SchemaType = "float"
	Float64 SchemaType = "double"
	Boolean SchemaType = "boolean"
	String  SchemaType = "string"
	Bytes   SchemaType = "bytes"
	Array   SchemaType = "array"
	Map     SchemaType = "map"
	StructT SchemaType = "struct"
)

// Field is one field of a struct schema. In JSON it is the field's schema
// with a "field" key added, as Kafka Connect writes it.
type Field struct {
	Name   string
	Schema *Schema
}

// Field returns the named field's schema, or nil.
func (s *Schema) Field(name string) *Schema {
	if s == nil {
		return nil
	}
	for _, f := range s.Fields {
		if f.Name == name {
			return f.Schema
		}
	}
	return nil
}

// Struct is a struct value: field values by name, in the schema's field
// order when encoded.
type Struct struct {
	Schema *Schema
	Values map[string]any
}

// NewStruct returns an empty struct of schema s.
func NewStruct(s *Schema) *Struct { return &Struct{Schema: s, Values: map[string]any{}} }

// Put sets a field and returns the struct, for chaining.
func (st *Struct) Put(field string, v any) *Struct {
	st.Values[field] = v
	return st
}

// Get returns a field's value (nil when unset).
func (st *Struct) Get(field string) any { return st.Values[field] }

// MapEntry is one entry of a map whose keys are not strings.
type MapEntry struct {
	Key, Value any
}

// MarshalJSON writes a struct as a JSON object with its fields in schema
// order (unset fields as null), so sinks that write values as JSON write
// Structs as Kafka Connect's JsonConverter does without schemas. Bytes are
// base64, as encoding/json writes them.
func (st *Struct) MarshalJSON() ([]byte, error) {
	if st == nil {
		return []byte("null"), nil
	}
	var b []byte
	b = append(b, '{')
	write := func(i int, name string, v any) error {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(name)
		b = append(b, k...)
		b = append(b, ':')
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b = append(b, j...)
		return nil
	}
	if st.Schema != nil && len(st.Schema.Fields) > 0 {
		for i, f := range st.Schema.Fields {
			if err := write(i, f.Name, st.Values[f.Name]); err != nil {
				return nil, err
			}
		}
	} else {
		keys := make([]string, 0, len(st.Values))
		for k := range st.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if err := write(i, k, st.Values[k]); err != nil {
				return nil, err
			}
		}
	}
	return append(b, '}'), nil
}

// MarshalJSON writes an entry as a [key, value] pair, as JsonConverter
// writes maps whose keys are not strings.
func (e MapEntry) MarshalJSON() ([]byte, error) { return json.Marshal([]any{e.Key, e.Value}) }
