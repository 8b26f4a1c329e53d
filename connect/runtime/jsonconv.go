package runtime

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
)

// JSONConverter is org.apache.kafka.connect.json.JsonConverter. With
// SchemasEnable it writes {"schema":...,"payload":...} envelopes in Kafka
// Connect's JSON schema form: the record's schema when it has one, else one
// inferred from the value. Reading an envelope gives the schema and typed
// values (*plugin.Struct for structs, []byte for bytes and decimals).
type JSONConverter struct {
	SchemasEnable bool
	// DecimalNumeric writes decimals as JSON numbers (decimal.format=NUMERIC)
	// rather than base64 of the unscaled bytes.
	DecimalNumeric bool
	// KeepNulls keeps a null optional value null even when its schema has
	// a default (replace.null.with.default=false).
	KeepNulls bool

	mu       sync.Mutex
	written  map[*plugin.Schema][]byte // schema JSON by schema
	read     map[string]*plugin.Schema // schema by its JSON
	inferred inferCache
	sizeHint atomic.Int64 // length of the last record written
}

// Schema caches are bounded: schemas are usually few and long-lived, and a
// source that builds a new one per record must not grow memory.
const schemaCacheMax = 1024

// FromConnect encodes v.
func (c *JSONConverter) FromConnect(_ string, s *plugin.Schema, v any) ([]byte, error) {
	if v == nil && s == nil {
		return nil, nil // a tombstone stays a tombstone
	}
	var buf bytes.Buffer
	// Start at the size of the last record, so a record is written with
	// one allocation instead of a chain of doublings.
	buf.Grow(int(c.sizeHint.Load()))
	defer func() { c.sizeHint.Store(int64(buf.Len())) }()
	if !c.SchemasEnable {
		if err := c.writeValue(&buf, s, v); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if s == nil {
		s = c.inferred.schema(v)
	}
	sj, err := c.schemaJSON(s)
	if err != nil {
		return nil, err
	}
	buf.WriteString(`{"schema":`)
	buf.Write(sj)
	buf.WriteString(`,"payload":`)
	if err := c.writeValue(&buf, s, v); err != nil {
		return nil, err
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (c *JSONConverter) schemaJSON(s *plugin.Schema) ([]byte, error) {
	c.mu.Lock()
	b, ok := c.written[s]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	var buf bytes.Buffer
	if err := c.writeSchema(&buf, s, ""); err != nil {
		return nil, err
	}
	b = buf.Bytes()
	c.mu.Lock()
	if c.written == nil || len(c.written) >= schemaCacheMax {
		c.written = map[*plugin.Schema][]byte{}
	}
	c.written[s] = b
	c.mu.Unlock()
	return b, nil
}

// writeSchema writes s in Kafka Connect's JSON schema form, keys in the
// order JsonConverter.asJsonSchema writes them.
func (c *JSONConverter) writeSchema(buf *bytes.Buffer, s *plugin.Schema, field string) error {
	buf.WriteString(`{"type":`)
	writeString(buf, string(s.Type))
	switch s.Type {
	case plugin.StructT:
		buf.WriteString(`,"fields":[`)
		for i, f := range s.Fields {
			if f.Schema == nil {
				return fmt.Errorf("field %s has no schema", f.Name)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := c.writeSchema(buf, f.Schema, f.Name); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case plugin.Array:
		if s.Items == nil {
			return fmt.Errorf("array schema without items")
		}
		buf.WriteString(`,"items":`)
		if err := c.writeSchema(buf, s.Items, ""); err != nil {
			return err
		}
	case plugin.Map:
		if s.Keys == nil || s.Values == nil {
			return fmt.Errorf("map schema without keys or values")
		}
		buf.WriteString(`,"keys":`)
		if err := c.writeSchema(buf, s.Keys, ""); err != nil {
			return err
		}
		buf.WriteString(`,"values":`)
		if err := c.writeSchema(buf, s.Values, ""); err != nil {
			return err
		}
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64, plugin.Float32, plugin.Float64, plugin.Boolean, plugin.String, plugin.Bytes:
	default:
		return fmt.Errorf("Unknown schema type: %s", s.Type)
	}
	buf.WriteString(`,"optional":`)
	buf.WriteString(strconv.FormatBool(s.Optional))
	if s.Name != "" {
		buf.WriteString(`,"name":`)
		writeString(buf, s.Name)
	}
	if s.Version != 0 {
		buf.WriteString(`,"version":`)
		buf.WriteString(strconv.Itoa(s.Version))
	}
	if s.Doc != "" {
		buf.WriteString(`,"doc":`)
		writeString(buf, s.Doc)
	}
	if len(s.Parameters) > 0 {
		keys := make([]string, 0, len(s.Parameters))
		for k := range s.Parameters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteString(`,"parameters":{`)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeString(buf, s.Parameters[k])
		}
		buf.WriteByte('}')
	}
	if s.Default != nil {
		buf.WriteString(`,"default":`)
		if err := c.writeValue(buf, s, s.Default); err != nil {
			return fmt.Errorf("default: %w", err)
		}
	}
	if field != "" {
		buf.WriteString(`,"field":`)
		writeString(buf, field)
	}
	buf.WriteByte('}')
	return nil
}

// writeString writes s as a JSON string, byte for byte as encoding/json
// would; strings needing no escapes (the usual case) skip its reflection.
func writeString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			buf.Write(b)
			return
		}
	}
	buf.Grow(len(s) + 2)
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

// writeValue writes v as JSON under schema s (nil: schemaless).
func (c *JSONConverter) writeValue(buf *bytes.Buffer, s *plugin.Schema, v any) error {
	if s == nil {
		return writeAny(buf, v)
	}
	if v == nil {
		if s.Default != nil && (!c.KeepNulls || !s.Optional) {
			v = s.Default
		} else if s.Optional {
			buf.WriteString("null")
			return nil
		} else {
			return fmt.Errorf("Conversion error: null value for field that is required and has no default value")
		}
	}
	switch s.Name {
	case avrodata.DecimalName:
		unscaled, err := decimalUnscaled(s, v)
		if err != nil {
			return err
		}
		if c.DecimalNumeric {
			scale, _ := strconv.Atoi(s.Parameters[avrodata.ScaleParam])
			buf.WriteString(decimalString(unscaled, scale))
			return nil
		}
		writeString(buf, base64.StdEncoding.EncodeToString(avrodata.UnscaledBytes(unscaled)))
		return nil
	case avrodata.TimestampName, avrodata.DateName, avrodata.TimeName:
		if t, ok := v.(time.Time); ok {
			v = logicalFromTime(s.Name, t)
		}
	}
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64:
		i, err := plugin.ToInt64(v)
		if err != nil {
			return err
		}
		buf.WriteString(strconv.FormatInt(i, 10))
	case plugin.Float32, plugin.Float64:
		f, err := toFloat64(v)
		if err != nil {
			return err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("Conversion error: %v cannot be written as JSON", f)
		}
		bits := 64
		if s.Type == plugin.Float32 {
			bits = 32
		}
		buf.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
	case plugin.Boolean:
		b, ok := v.(bool)
		if !ok {
			return typeMismatch(s, v)
		}
		buf.WriteString(strconv.FormatBool(b))
	case plugin.String:
		switch x := v.(type) {
		case string:
			writeString(buf, x)
		case fmt.Stringer:
			writeString(buf, x.String())
		default:
			return typeMismatch(s, v)
		}
	case plugin.Bytes:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		default:
			return typeMismatch(s, v)
		}
		writeString(buf, base64.StdEncoding.EncodeToString(b))
	case plugin.Array:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice {
			return typeMismatch(s, v)
		}
		buf.WriteByte('[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := c.writeValue(buf, s.Items, rv.Index(i).Interface()); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case plugin.Map:
		return c.writeMap(buf, s, v)
	case plugin.StructT:
		get, err := structGetter(s, v)
		if err != nil {
			return err
		}
		buf.WriteByte('{')
		for i, f := range s.Fields {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, f.Name)
			buf.WriteByte(':')
			if err := c.writeValue(buf, f.Schema, get(f.Name)); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("Unknown schema type: %s", s.Type)
	}
	return nil
}

// writeMap writes a map: an object for string keys, else Kafka's array of
// [key, value] pairs.
func (c *JSONConverter) writeMap(buf *bytes.Buffer, s *plugin.Schema, v any) error {
	entries, err := mapEntries(v)
	if err != nil {
		return typeMismatch(s, v)
	}
	objectMode := s.Keys.Type == plugin.String
	if objectMode {
		buf.WriteByte('{')
	} else {
		buf.WriteByte('[')
	}
	for i, e := range entries {
		if i > 0 {
			buf.WriteByte(',')
		}
		if objectMode {
			k, ok := e.Key.(string)
			if !ok {
				return fmt.Errorf("map key of type %T under a string key schema", e.Key)
			}
			writeString(buf, k)
			buf.WriteByte(':')
		} else {
			buf.WriteByte('[')
			if err := c.writeValue(buf, s.Keys, e.Key); err != nil {
				return err
			}
			buf.WriteByte(',')
		}
		if err := c.writeValue(buf, s.Values, e.Value); err != nil {
			return err
		}
		if !objectMode {
			buf.WriteByte(']')
		}
	}
	if objectMode {
		buf.WriteByte('}')
	} else {
		buf.WriteByte(']')
	}
	return nil
}

// mapEntries lists a map value's entries, string keys sorted.
func mapEntries(v any) ([]plugin.MapEntry, error) {
	switch x := v.(type) {
	case []plugin.MapEntry:
		return x, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]plugin.MapEntry, len(keys))
		for i, k := range keys {
			out[i] = plugin.MapEntry{Key: k, Value: x[k]}
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return nil, fmt.Errorf("not a map")
	}
	out := make([]plugin.MapEntry, 0, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		out = append(out, plugin.MapEntry{Key: it.Key().Interface(), Value: it.Value().Interface()})
	}
	return out, nil
}

// writeAny writes schemaless data.
func writeAny(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case *plugin.Struct:
		if x == nil || x.Schema == nil {
			buf.WriteString("null")
			return nil
		}
		return (&JSONConverter{}).writeValue(buf, x.Schema, x)
	case []plugin.MapEntry:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('[')
			if err := writeAny(buf, e.Key); err != nil {
				return err
			}
			buf.WriteByte(',')
			if err := writeAny(buf, e.Value); err != nil {
				return err
			}
			buf.WriteByte(']')
		}
		buf.WriteByte(']')
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeAny(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeAny(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("Conversion error: %v cannot be written as JSON", x)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("Conversion error: %w", err)
	}
	buf.Write(b)
	return nil
}

func typeMismatch(s *plugin.Schema, v any) error {
	return fmt.Errorf("Invalid Java object for schema with type %s: %T", s.Type, v)
}

// structGetter reads fields of a *plugin.Struct or a map under a struct schema.
func structGetter(s *plugin.Schema, v any) (func(string) any, error) {
	switch x := v.(type) {
	case *plugin.Struct:
		if x != nil {
			return x.Get, nil
		}
	case map[string]any:
		return func(k string) any { return x[k] }, nil
	}
	return nil, typeMismatch(s, v)
}

// ToConnect decodes b.
func (c *JSONConverter) ToConnect(_ string, b []byte) (*plugin.Schema, any, error) {
	if b == nil {
		return nil, nil, nil
	}
	if !c.SchemasEnable {
		v, err := decodeJSON(b)
		if err != nil {
			return nil, nil, err
		}
		return nil, v, nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		if json.Valid(b) {
			return nil, nil, errEnvelope
		}
		return nil, nil, fmt.Errorf("Converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	rawSchema, hasSchema := env["schema"]
	rawPayload, hasPayload := env["payload"]
	if len(env) != 2 || !hasSchema || !hasPayload {
		return nil, nil, errEnvelope
	}
	payload, err := decodeJSON(rawPayload)
	if err != nil {
		return nil, nil, err
	}
	if bytes.Equal(bytes.TrimSpace(rawSchema), []byte("null")) {
		return nil, payload, nil
	}
	s, err := c.readSchema(rawSchema)
	if err != nil {
		return nil, nil, err
	}
	v, err := jsonToConnect(s, payload, !c.KeepNulls)
	if err != nil {
		return nil, nil, err
	}
	return s, v, nil
}

var errEnvelope = fmt.Errorf(`JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`)

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("Converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("Converting byte[] to Kafka Connect data failed due to serialization error: trailing data")
	}
	return normalize(v), nil
}

// readSchema parses a JSON schema, cached by its text so a topic's records
// share one *plugin.Schema.
func (c *JSONConverter) readSchema(raw []byte) (*plugin.Schema, error) {
	c.mu.Lock()
	s, ok := c.read[string(raw)]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	j, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	s, err = SchemaFromJSON(j)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.read == nil || len(c.read) >= schemaCacheMax {
		c.read = map[string]*plugin.Schema{}
	}
	c.read[string(raw)] = s
	c.mu.Unlock()
	return s, nil
}

// SchemaFromJSON reads Kafka Connect's JSON schema form (decoded with
// numbers normalized) into a Schema, as JsonConverter.asConnectSchema.
func SchemaFromJSON(j any) (*plugin.Schema, error) {
	m, ok := j.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Schema must be a JSON object, got %T", j)
	}
	t, _ := m["type"].(string)
	s := &plugin.Schema{Type: plugin.SchemaType(t)}
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64, plugin.Float32, plugin.Float64, plugin.Boolean, plugin.String, plugin.Bytes:
	case plugin.Array:
		items, ok := m["items"]
		if !ok {
			return nil, fmt.Errorf("Array schema did not specify the element type")
		}
		it, err := SchemaFromJSON(items)
		if err != nil {
			return nil, err
		}
		s.Items = it
	case plugin.Map:
		keys, okK := m["keys"]
		vals, okV := m["values"]
		if !okK || !okV {
			return nil, fmt.Errorf("Map schema did not specify the key and value types")
		}
		k, err := SchemaFromJSON(keys)
		if err != nil {
			return nil, err
		}
		v, err := SchemaFromJSON(vals)
		if err != nil {
			return nil, err
		}
		s.Keys, s.Values = k, v
	case plugin.StructT:
		fields, ok := m["fields"].([]any)
		if !ok {
			return nil, fmt.Errorf(`Struct schema's "fields" argument is not an array.`)
		}
		seen := map[string]bool{}
		for _, f := range fields {
			fm, ok := f.(map[string]any)
			name, _ := fm["field"].(string)
			if !ok || name == "" {
				return nil, fmt.Errorf("Struct schema's field name not specified properly")
			}
			if seen[name] {
				return nil, fmt.Errorf("Cannot create field because of field name duplication %s", name)
			}
			seen[name] = true
			fs, err := SchemaFromJSON(fm)
			if err != nil {
				return nil, err
			}
			s.Fields = append(s.Fields, plugin.Field{Name: name, Schema: fs})
		}
	case "":
		return nil, fmt.Errorf("Schema must contain 'type' field")
	default:
		return nil, fmt.Errorf("Unknown schema type: %s", t)
	}
	s.Optional, _ = m["optional"].(bool)
	s.Name, _ = m["name"].(string)
	if v, ok := m["version"].(int64); ok {
		s.Version = int(v)
	}
	s.Doc, _ = m["doc"].(string)
	if p, ok := m["parameters"].(map[string]any); ok {
		s.Parameters = make(map[string]string, len(p))
		for k, v := range p {
			str, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("Schema parameters must have string values.")
			}
			s.Parameters[k] = str
		}
	}
	if d, ok := m["default"]; ok && d != nil {
		dv, err := jsonToConnect(s, d, true)
		if err != nil {
			return nil, fmt.Errorf("default: %w", err)
		}
		s.Default = dv
	}
	return s, nil
}

// jsonToConnect converts a decoded JSON value (numbers as int64/float64)
// under schema s into Connect data.
func jsonToConnect(s *plugin.Schema, j any, nullDefault bool) (any, error) {
	if j == nil {
		if s.Default != nil && (nullDefault || !s.Optional) {
			return s.Default, nil
		}
		if s.Optional {
			return nil, nil
		}
		return nil, fmt.Errorf("Invalid null value for required %s field", s.Type)
	}
	if s.Name == avrodata.DecimalName {
		scale, _ := strconv.Atoi(s.Parameters[avrodata.ScaleParam])
		switch x := j.(type) {
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("Invalid bytes field: %w", err)
			}
			return b, nil
		case int64:
			return avrodata.UnscaledBytes(new(big.Int).Mul(big.NewInt(x), pow10(scale))), nil
		case float64, json.Number:
			r, ok := new(big.Rat).SetString(fmt.Sprint(x))
			if !ok {
				return nil, fmt.Errorf("Invalid decimal %v", x)
			}
			r.Mul(r, new(big.Rat).SetInt(pow10(scale)))
			return avrodata.UnscaledBytes(new(big.Int).Quo(r.Num(), r.Denom())), nil
		}
		return nil, fmt.Errorf("Invalid type for Decimal, underlying representation should be bytes but was %T", j)
	}
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64:
		i, ok := j.(int64)
		if !ok {
			return nil, fmt.Errorf("Invalid value for %s: %v", s.Type, j)
		}
		return i, nil
	case plugin.Float32, plugin.Float64:
		return toFloat64(j)
	case plugin.Boolean:
		if _, ok := j.(bool); !ok {
			return nil, fmt.Errorf("Invalid boolean: %v", j)
		}
		return j, nil
	case plugin.String:
		if _, ok := j.(string); !ok {
			return nil, fmt.Errorf("Invalid string: %v", j)
		}
		return j, nil
	case plugin.Bytes:
		str, ok := j.(string)
		if !ok {
			return nil, fmt.Errorf("Invalid bytes field")
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return nil, fmt.Errorf("Invalid bytes field: %w", err)
		}
		return b, nil
	case plugin.Array:
		xs, ok := j.([]any)
		if !ok {
			return nil, fmt.Errorf("Array value must be a JSON array")
		}
		out := make([]any, len(xs))
		for i, x := range xs {
			v, err := jsonToConnect(s.Items, x, nullDefault)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case plugin.Map:
		if s.Keys.Type == plugin.String {
			m, ok := j.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("Maps with string fields should be encoded as JSON objects, but found %T", j)
			}
			out := make(map[string]any, len(m))
			for k, x := range m {
				v, err := jsonToConnect(s.Values, x, nullDefault)
				if err != nil {
					return nil, err
				}
				out[k] = v
			}
			return out, nil
		}
		xs, ok := j.([]any)
		if !ok {
			return nil, fmt.Errorf("Maps with non-string fields should be encoded as JSON array of tuples, but found %T", j)
		}
		out := make([]plugin.MapEntry, 0, len(xs))
		for _, x := range xs {
			pair, ok := x.([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("Found invalid map entry instead of array tuple")
			}
			k, err := jsonToConnect(s.Keys, pair[0], nullDefault)
			if err != nil {
				return nil, err
			}
			v, err := jsonToConnect(s.Values, pair[1], nullDefault)
			if err != nil {
				return nil, err
			}
			out = append(out, plugin.MapEntry{Key: k, Value: v})
		}
		return out, nil
	case plugin.StructT:
		m, ok := j.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Structs should be encoded as JSON objects, but found %T", j)
		}
		st := plugin.NewStruct(s)
		for _, f := range s.Fields {
			v, err := jsonToConnect(f.Schema, m[f.Name], nullDefault)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			if v != nil {
				st.Values[f.Name] = v
			}
		}
		return st, nil
	}
	return nil, fmt.Errorf("Unknown schema type: %s", s.Type)
}

// normalize turns json.Numbers into int64 or float64.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// inferSchema builds a schema for schemaless data (every part optional;
// a string-keyed map becomes a struct with its keys sorted). A
// *plugin.Struct brings its own.
func inferSchema(v any) *plugin.Schema {
	s := &plugin.Schema{Optional: true}
	switch x := v.(type) {
	case nil:
		s.Type = plugin.String
	case bool:
		s.Type = plugin.Boolean
	case int, int32, int16, int8, uint8, uint16:
		s.Type = plugin.Int32
	case int64, uint32, uint64:
		s.Type = plugin.Int64
	case time.Time:
		s.Type, s.Name, s.Version = plugin.Int64, avrodata.TimestampName, 1
	case float32:
		s.Type = plugin.Float32
	case float64:
		s.Type = plugin.Float64
	case string:
		s.Type = plugin.String
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
			s.Items = inferSchema(x[0])
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
		s.Fields = make([]plugin.Field, 0, len(keys))
		for _, k := range keys {
			s.Fields = append(s.Fields, plugin.Field{Name: k, Schema: inferSchema(x[k])})
		}
	default:
		s.Type = plugin.String
	}
	return s
}
