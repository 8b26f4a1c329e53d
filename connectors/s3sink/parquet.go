package s3sink

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/sluicehq/sluice/connect/plugin"
)

// parquetFormat writes one Parquet file per object, its schema mapped from
// the records' Connect schema (a struct, as Confluent's ParquetFormat
// requires; schemaless maps get an inferred one).
type parquetFormat struct{ codec string }

func (f parquetFormat) ext() string {
	switch f.codec {
	case "none":
		return ".parquet"
	case "gzip":
		return ".gz.parquet"
	case "zstd":
		return ".zstd.parquet"
	case "lz4":
		return ".lz4raw.parquet"
	}
	return ".snappy.parquet"
}

func (parquetFormat) encode(_ []byte, s *plugin.Schema, v any) (item, error) {
	if s == nil {
		s = inferSchema(v)
	}
	if s.Type != plugin.StructT {
		return item{}, fmt.Errorf("ParquetFormat: a %s value cannot be written; Parquet rows need a struct schema", s.Type)
	}
	if _, err := parquetSchema(s); err != nil {
		return item{}, err
	}
	n, err := parquetValue(s, v)
	if err != nil {
		return item{}, fmt.Errorf("ParquetFormat: %w", err)
	}
	return item{native: n, schema: s}, nil
}

func (f parquetFormat) file(items []item, _ string) (out []byte, err error) {
	if len(items) == 0 {
		return nil, nil
	}
	schema, err := parquetSchema(items[0].schema)
	if err != nil {
		return nil, err
	}
	var codec compress.Codec = &parquet.Snappy
	switch f.codec {
	case "none":
		codec = &parquet.Uncompressed
	case "gzip":
		codec = &parquet.Gzip
	case "zstd":
		codec = &parquet.Zstd
	case "lz4":
		codec = &parquet.Lz4Raw
	}
	defer func() {
		// parquet-go panics on a value that does not match its schema;
		// encode already checked the values, so this is a last guard.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("ParquetFormat: %v", r)
		}
	}()
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema, parquet.Compression(codec))
	for _, it := range items {
		if err := w.Write(it.native); err != nil {
			return nil, fmt.Errorf("ParquetFormat: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("ParquetFormat: %w", err)
	}
	return buf.Bytes(), nil
}

var parquetSchemas = struct {
	sync.Mutex
	m map[*plugin.Schema]*parquet.Schema
}{m: map[*plugin.Schema]*parquet.Schema{}}

func parquetSchema(s *plugin.Schema) (*parquet.Schema, error) {
	parquetSchemas.Lock()
	defer parquetSchemas.Unlock()
	if ps := parquetSchemas.m[s]; ps != nil {
		return ps, nil
	}
	root, err := parquetNode(s, true)
	if err != nil {
		return nil, fmt.Errorf("ParquetFormat: %w", err)
	}
	name := s.Name
	if name == "" {
		name = "ConnectDefault"
	}
	ps := parquet.NewSchema(name, root)
	if len(parquetSchemas.m) > 1024 {
		clear(parquetSchemas.m)
	}
	parquetSchemas.m[s] = ps
	return ps, nil
}

func parquetNode(s *plugin.Schema, root bool) (parquet.Node, error) {
	var n parquet.Node
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32:
		n = parquet.Int(32)
	case plugin.Int64:
		if s.Name == "org.apache.kafka.connect.data.Timestamp" {
			n = parquet.Timestamp(parquet.Millisecond)
		} else {
			n = parquet.Int(64)
		}
	case plugin.Float32:
		n = parquet.Leaf(parquet.FloatType)
	case plugin.Float64:
		n = parquet.Leaf(parquet.DoubleType)
	case plugin.Boolean:
		n = parquet.Leaf(parquet.BooleanType)
	case plugin.String:
		n = parquet.String()
	case plugin.Bytes:
		n = parquet.Leaf(parquet.ByteArrayType)
	case plugin.Array:
		if s.Items == nil {
			return nil, fmt.Errorf("array schema without items")
		}
		items, err := parquetNode(&plugin.Schema{Type: s.Items.Type, Name: s.Items.Name, Fields: s.Items.Fields, Items: s.Items.Items, Keys: s.Items.Keys, Values: s.Items.Values}, false)
		if err != nil {
			return nil, err
		}
		n = parquet.Repeated(items)
		return n, nil // a repeated field is its own optionality
	case plugin.Map:
		if s.Keys == nil || s.Values == nil || s.Keys.Type != plugin.String {
			return nil, fmt.Errorf("only maps with string keys can be written to Parquet")
		}
		v, err := parquetNode(s.Values, false)
		if err != nil {
			return nil, err
		}
		n = parquet.Map(parquet.String(), v)
	case plugin.StructT:
		g := parquet.Group{}
		for _, f := range s.Fields {
			fn, err := parquetNode(f.Schema, false)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			g[f.Name] = fn
		}
		n = g
	default:
		return nil, fmt.Errorf("schema type %q cannot be written to Parquet", s.Type)
	}
	if s.Optional && !root {
		n = parquet.Optional(n)
	}
	return n, nil
}

// parquetValue turns Connect data into the plain Go values parquet-go
// writes: structs as maps, integers sized to their column.
func parquetValue(s *plugin.Schema, v any) (any, error) {
	if v == nil {
		if s.Default != nil {
			v = s.Default
		} else if s.Optional || s.Type == plugin.Array {
			return nil, nil
		} else {
			return nil, fmt.Errorf("null value for a required %s field", s.Type)
		}
	}
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64:
		var i int64
		switch x := v.(type) {
		case int64:
			i = x
		case int:
			i = int64(x)
		case int32:
			i = int64(x)
		case int16:
			i = int64(x)
		case int8:
			i = int64(x)
		case float64:
			if x != float64(int64(x)) {
				return nil, fmt.Errorf("%v is not an integer", x)
			}
			i = int64(x)
		default:
			return nil, fmt.Errorf("value of type %T does not fit a %s schema", v, s.Type)
		}
		if s.Type == plugin.Int64 {
			return i, nil
		}
		return int32(i), nil
	case plugin.Float32:
		f, ok := v.(float64)
		if !ok {
			return nil, fmt.Errorf("value of type %T does not fit a float schema", v)
		}
		return float32(f), nil
	case plugin.Float64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
		return nil, fmt.Errorf("value of type %T does not fit a double schema", v)
	case plugin.Boolean:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("value of type %T does not fit a boolean schema", v)
		}
		return v, nil
	case plugin.String:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("value of type %T does not fit a string schema", v)
		}
		return v, nil
	case plugin.Bytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
		return nil, fmt.Errorf("value of type %T does not fit a bytes schema", v)
	case plugin.Array:
		a, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("value of type %T does not fit an array schema", v)
		}
		out := make([]any, len(a))
		for i, e := range a {
			ev, err := parquetValue(s.Items, e)
			if err != nil {
				return nil, err
			}
			if ev == nil {
				return nil, fmt.Errorf("null array element")
			}
			out[i] = ev
		}
		return out, nil
	case plugin.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("value of type %T does not fit a map schema", v)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			ev, err := parquetValue(s.Values, e)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	case plugin.StructT:
		get := func(string) any { return nil }
		switch x := v.(type) {
		case *plugin.Struct:
			get = x.Get
		case map[string]any:
			get = func(k string) any { return x[k] }
		default:
			return nil, fmt.Errorf("value of type %T does not fit a struct schema", v)
		}
		out := make(map[string]any, len(s.Fields))
		for _, f := range s.Fields {
			fv, err := parquetValue(f.Schema, get(f.Name))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			out[f.Name] = fv
		}
		return out, nil
	}
	return nil, fmt.Errorf("schema type %q cannot be written to Parquet", s.Type)
}
