package s3sink

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
)

// item is one record's key, value or headers, encoded when the record is
// put (so a record that cannot be written is found then, not at rotation).
type item struct {
	b      []byte         // JSON and ByteArray
	native any            // Avro (goavro native) and Parquet (plain Go value)
	schema *plugin.Schema // Avro and Parquet: the schema the value is written with
}

// format turns records into files.
type format interface {
	ext() string
	encode(s *plugin.Schema, v any) (item, error)
	// file assembles the items of one object; key seeds what must be
	// fixed for the bytes to be identical on a replay (Avro's sync marker).
	file(items []item, key string) ([]byte, error)
}

func newFormat(s *settings) format {
	switch s.format {
	case AvroFormatClass:
		return avroFormat{codec: s.avroCodec}
	case ParquetFormatClass:
		return parquetFormat{codec: s.parquetCodec}
	case ByteArrayFormatClass:
		return bytesFormat{extension: s.byteExt, sep: []byte(s.byteSep), gzip: s.gzip, level: s.gzipLevel}
	}
	return jsonFormat{gzip: s.gzip, level: s.gzipLevel}
}

type jsonFormat struct {
	gzip  bool
	level int
}

func (f jsonFormat) ext() string {
	if f.gzip {
		return ".json.gz"
	}
	return ".json"
}

func (jsonFormat) encode(_ *plugin.Schema, v any) (item, error) {
	var b []byte
	var err error
	if st, ok := v.(*plugin.Struct); ok {
		// Its output is compact already; json.Marshal would re-scan it.
		b, err = st.MarshalJSON()
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return item{}, fmt.Errorf("JsonFormat: %w", err)
	}
	return item{b: b}, nil
}

func (f jsonFormat) file(items []item, _ string) ([]byte, error) {
	return joinItems(items, []byte("\n"), f.gzip, f.level)
}

type bytesFormat struct {
	extension string
	sep       []byte
	gzip      bool
	level     int
}

func (f bytesFormat) ext() string {
	if f.gzip {
		return f.extension + ".gz"
	}
	return f.extension
}

func (bytesFormat) encode(_ *plugin.Schema, v any) (item, error) {
	switch x := v.(type) {
	case []byte:
		return item{b: x}, nil
	case string:
		return item{b: []byte(x)}, nil
	}
	return item{}, fmt.Errorf("ByteArrayFormat: value of type %T is not bytes (use the ByteArrayConverter)", v)
}

func (f bytesFormat) file(items []item, _ string) ([]byte, error) {
	return joinItems(items, f.sep, f.gzip, f.level)
}

// joinItems writes each item followed by sep, optionally gzipped (Go's
// gzip header carries no time, so the bytes are the same on a replay).
func joinItems(items []item, sep []byte, gz bool, level int) ([]byte, error) {
	n := 0
	for _, it := range items {
		n += len(it.b) + len(sep)
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if !gz {
		for _, it := range items {
			buf.Write(it.b)
			buf.Write(sep)
		}
		return buf.Bytes(), nil
	}
	buf = bytes.NewBuffer(make([]byte, 0, n/4+64))
	zw, err := gzip.NewWriterLevel(buf, level)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		zw.Write(it.b)
		zw.Write(sep)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type avroFormat struct{ codec string }

func (avroFormat) ext() string { return ".avro" }

func (avroFormat) encode(s *plugin.Schema, v any) (item, error) {
	if s == nil {
		s = inferSchema(v)
	}
	n, err := avrodata.ToAvroValue(s, v)
	if err != nil {
		return item{}, fmt.Errorf("AvroFormat: %w", err)
	}
	return item{native: n, schema: s}, nil
}

func (f avroFormat) file(items []item, key string) ([]byte, error) {
	if len(items) == 0 {
		return nil, nil
	}
	schema, err := avrodata.ToAvroSchema(items[0].schema)
	if err != nil {
		return nil, fmt.Errorf("AvroFormat: %w", err)
	}
	codec, err := avroCodec(schema)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	sum := sha256.Sum256([]byte(key))
	var sync [16]byte
	copy(sync[:], sum[:])
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Codec: codec, CompressionName: f.codec, SyncMarker: sync})
	if err != nil {
		return nil, fmt.Errorf("AvroFormat: %w", err)
	}
	const block = 1000
	natives := make([]any, 0, block)
	for i, it := range items {
		natives = append(natives, it.native)
		if len(natives) == block || i == len(items)-1 {
			if err := w.Append(natives); err != nil {
				return nil, fmt.Errorf("AvroFormat: %w", err)
			}
			natives = natives[:0]
		}
	}
	return buf.Bytes(), nil
}

// avroCodecs caches goavro codecs by schema text; building one is costly.
var avroCodecs = struct {
	sync.Mutex
	m map[string]*goavro.Codec
}{m: map[string]*goavro.Codec{}}

func avroCodec(schema string) (*goavro.Codec, error) {
	avroCodecs.Lock()
	defer avroCodecs.Unlock()
	if c := avroCodecs.m[schema]; c != nil {
		return c, nil
	}
	c, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, fmt.Errorf("AvroFormat: %w", err)
	}
	if len(avroCodecs.m) > 1024 {
		clear(avroCodecs.m)
	}
	avroCodecs.m[schema] = c
	return c, nil
}

// inferred caches schemas inferred for schemaless values by shape, so
// records of one shape share one schema (and one file).
var inferred = struct {
	sync.Mutex
	m map[string]*plugin.Schema
}{m: map[string]*plugin.Schema{}}

// inferSchema builds a schema for a schemaless value: every part optional,
// a map becomes a struct of its keys in sorted order, integers int64,
// floats double, an empty array an array of optional strings.
func inferSchema(v any) *plugin.Schema {
	if st, ok := v.(*plugin.Struct); ok && st != nil && st.Schema != nil {
		return st.Schema
	}
	s := infer(v)
	b, _ := json.Marshal(s)
	inferred.Lock()
	defer inferred.Unlock()
	if c := inferred.m[string(b)]; c != nil {
		return c
	}
	if len(inferred.m) > 4096 {
		clear(inferred.m)
	}
	inferred.m[string(b)] = s
	return s
}

func infer(v any) *plugin.Schema {
	s := &plugin.Schema{Optional: true}
	switch x := v.(type) {
	case bool:
		s.Type = plugin.Boolean
	case int, int8, int16, int32, int64, uint8, uint16, uint32:
		s.Type = plugin.Int64
	case float32, float64:
		s.Type = plugin.Float64
	case []byte:
		s.Type = plugin.Bytes
	case *plugin.Struct:
		if x != nil && x.Schema != nil {
			return x.Schema
		}
		s.Type = plugin.String
	case []any:
		s.Type = plugin.Array
		if len(x) > 0 {
			s.Items = infer(x[0])
		} else {
			s.Items = &plugin.Schema{Type: plugin.String, Optional: true}
		}
	case map[string]any:
		s.Type = plugin.StructT
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s.Fields = append(s.Fields, plugin.Field{Name: k, Schema: infer(x[k])})
		}
	default: // strings, nulls and anything else as strings
		s.Type = plugin.String
	}
	return s
}

// sameSchema says whether two records can share a file.
func sameSchema(a, b *plugin.Schema) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
