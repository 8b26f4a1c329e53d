package s3sink

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"reflect"
	"sort"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"

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
	// encode turns one value into its item; JSON, ByteArray and Avro
	// append their bytes to buf (empty, with room to spare) where they can.
	encode(buf []byte, s *plugin.Schema, v any) (item, error)
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

func (jsonFormat) encode(buf []byte, _ *plugin.Schema, v any) (item, error) {
	b, err := appendJSON(buf, v)
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

func (bytesFormat) encode(_ []byte, _ *plugin.Schema, v any) (item, error) {
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

// encode writes the value's Avro binary encoding straight from Connect
// data (see avrodata.AppendBinary).
func (avroFormat) encode(buf []byte, s *plugin.Schema, v any) (item, error) {
	if s == nil {
		s = inferSchema(v)
	}
	b, err := avrodata.AppendBinary(buf, s, v)
	if err != nil {
		return item{}, fmt.Errorf("AvroFormat: %w", err)
	}
	return item{b: b, schema: s}, nil
}

// avroBlock is how many records go into one block of an object container
// file.
const avroBlock = 1000

// file writes an Avro object container file: the header (metadata
// avro.schema then avro.codec, and a sync marker derived from key, so a
// replay writes the same bytes) and blocks of avroBlock records.
func (f avroFormat) file(items []item, key string) ([]byte, error) {
	if len(items) == 0 {
		return nil, nil
	}
	schema, err := avrodata.ToAvroSchema(items[0].schema)
	if err != nil {
		return nil, fmt.Errorf("AvroFormat: %w", err)
	}
	size := 0
	for _, it := range items {
		size += len(it.b)
	}
	sum := sha256.Sum256([]byte(key))
	sync := sum[:16]
	out := make([]byte, 0, 64+len(schema)+size+(len(items)/avroBlock+1)*(20+len(sync)))
	out = append(out, "Obj\x01"...)
	out = avroLong(out, 2)
	out = avroString(out, "avro.schema")
	out = avroString(out, schema)
	out = avroString(out, "avro.codec")
	out = avroString(out, f.codec)
	out = append(out, 0) // end of the metadata map
	out = append(out, sync...)
	var raw []byte
	for len(items) > 0 {
		block := items[:min(avroBlock, len(items))]
		items = items[len(block):]
		n := 0
		for _, it := range block {
			n += len(it.b)
		}
		out = avroLong(out, int64(len(block)))
		if f.codec == "null" || f.codec == "" {
			out = avroLong(out, int64(n))
			for _, it := range block {
				out = append(out, it.b...)
			}
			out = append(out, sync...)
			continue
		}
		raw = raw[:0]
		for _, it := range block {
			raw = append(raw, it.b...)
		}
		packed, err := avroCompress(f.codec, raw)
		if err != nil {
			return nil, fmt.Errorf("AvroFormat: %w", err)
		}
		out = avroLong(out, int64(len(packed)))
		out = append(out, packed...)
		out = append(out, sync...)
	}
	return out, nil
}

// avroCompress compresses one block with an Avro codec: deflate is raw
// DEFLATE, snappy a snappy block followed by the CRC-32 of the input (big
// endian), zstandard one zstd frame.
func avroCompress(codec string, raw []byte) ([]byte, error) {
	switch codec {
	case "deflate":
		var buf bytes.Buffer
		zw, err := flate.NewWriter(&buf, flate.DefaultCompression)
		if err != nil {
			return nil, err
		}
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case "snappy":
		out := snappy.Encode(nil, raw)
		return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(raw)), nil
	case "zstandard":
		zstdOnce.Do(func() { zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)) })
		if zstdErr != nil {
			return nil, zstdErr
		}
		return zstdEnc.EncodeAll(raw, nil), nil
	}
	return nil, fmt.Errorf("unknown avro.codec %q", codec)
}

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdErr  error
)

// avroLong writes Avro's zig-zag varint.
func avroLong(b []byte, i int64) []byte {
	return binary.AppendUvarint(b, uint64(i<<1)^uint64(i>>63))
}

func avroString(b []byte, s string) []byte {
	b = avroLong(b, int64(len(s)))
	return append(b, s...)
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
