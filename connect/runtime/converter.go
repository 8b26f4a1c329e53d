package runtime

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Converter turns Connect data into Kafka bytes and back, as Kafka Connect's
// org.apache.kafka.connect.storage.Converter does. Connect data is nil, bool,
// int64, float64, string, []byte, []any or map[string]any.
type Converter interface {
	FromConnect(topic string, v any) ([]byte, error)
	ToConnect(topic string, b []byte) (any, error)
}

// Converter class names Kafka Connect configs use.
const (
	JSONConverterClass      = "org.apache.kafka.connect.json.JsonConverter"
	StringConverterClass    = "org.apache.kafka.connect.storage.StringConverter"
	ByteArrayConverterClass = "org.apache.kafka.connect.converters.ByteArrayConverter"
)

// NewConverter builds the converter named by class with its own settings
// (the keys after "key.converter." or "value.converter.").
func NewConverter(class string, cfg map[string]string) (Converter, error) {
	switch simpleName(class) {
	case "JsonConverter":
		c := &JSONConverter{SchemasEnable: true}
		if v, ok := cfg["schemas.enable"]; ok {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
			case "false":
				c.SchemasEnable = false
			default:
				return nil, fmt.Errorf("Invalid value %s for configuration schemas.enable: Expected value to be either true or false", v)
			}
		}
		return c, nil
	case "StringConverter":
		return StringConverter{}, nil
	case "ByteArrayConverter":
		return ByteArrayConverter{}, nil
	}
	return nil, fmt.Errorf("Class %s could not be found.", class)
}

func simpleName(class string) string {
	class = strings.TrimSpace(class)
	return class[strings.LastIndex(class, ".")+1:]
}

// JSONConverter is org.apache.kafka.connect.json.JsonConverter. With
// SchemasEnable it writes {"schema":...,"payload":...} envelopes, the schema
// inferred from the value, and reads them back (taking the payload).
type JSONConverter struct{ SchemasEnable bool }

// FromConnect encodes v.
func (c *JSONConverter) FromConnect(_ string, v any) ([]byte, error) {
	if v == nil {
		return nil, nil // a tombstone stays a tombstone
	}
	if c.SchemasEnable {
		return json.Marshal(map[string]any{"schema": inferSchema(v, ""), "payload": v})
	}
	return json.Marshal(v)
}

// ToConnect decodes b.
func (c *JSONConverter) ToConnect(_ string, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("Converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	v = normalize(v)
	if c.SchemasEnable {
		m, ok := v.(map[string]any)
		_, hasSchema := m["schema"]
		_, hasPayload := m["payload"]
		if !ok || len(m) != 2 || !hasSchema || !hasPayload {
			return nil, fmt.Errorf(`JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`)
		}
		p := m["payload"]
		if s, ok := m["schema"].(map[string]any); ok && s["type"] == "bytes" {
			if str, ok := p.(string); ok {
				raw, err := base64.StdEncoding.DecodeString(str)
				if err != nil {
					return nil, err
				}
				return raw, nil
			}
		}
		return p, nil
	}
	return v, nil
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

// inferSchema builds a Connect JSON schema for v.
func inferSchema(v any, field string) map[string]any {
	s := map[string]any{"optional": true}
	if field != "" {
		s["field"] = field
	}
	switch x := v.(type) {
	case nil:
		s["type"] = "string"
	case bool:
		s["type"] = "boolean"
	case int, int32:
		s["type"] = "int32"
	case int64:
		s["type"] = "int64"
	case float32:
		s["type"] = "float"
	case float64:
		s["type"] = "double"
	case string:
		s["type"] = "string"
	case []byte:
		s["type"] = "bytes"
	case []any:
		s["type"] = "array"
		if len(x) > 0 {
			s["items"] = inferSchema(x[0], "")
		} else {
			s["items"] = map[string]any{"type": "string", "optional": true}
		}
	case map[string]any:
		s["type"] = "struct"
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := make([]any, 0, len(keys))
		for _, k := range keys {
			fields = append(fields, inferSchema(x[k], k))
		}
		s["fields"] = fields
	default:
		s["type"] = "string"
	}
	return s
}

// StringConverter is org.apache.kafka.connect.storage.StringConverter.
type StringConverter struct{}

// FromConnect writes v as UTF-8 text.
func (StringConverter) FromConnect(_ string, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case map[string]any, []any:
		return json.Marshal(x)
	}
	return []byte(fmt.Sprint(v)), nil
}

// ToConnect reads b as a string.
func (StringConverter) ToConnect(_ string, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	return string(b), nil
}

// ByteArrayConverter is org.apache.kafka.connect.converters.ByteArrayConverter.
type ByteArrayConverter struct{}

// FromConnect passes bytes through; anything else is an error, as in Kafka.
func (ByteArrayConverter) FromConnect(_ string, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", v)
}

// ToConnect returns b.
func (ByteArrayConverter) ToConnect(_ string, b []byte) (any, error) { return b, nil }
