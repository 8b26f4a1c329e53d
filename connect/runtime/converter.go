package runtime

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Converter turns Connect data into Kafka bytes and back, as Kafka Connect's
// org.apache.kafka.connect.storage.Converter does. Connect data is nil,
// bool, int64, float64, string, []byte, []any, map[string]any, or, under a
// schema, the types plugin.Schema documents (*plugin.Struct, ...). A nil
// schema means schemaless data. Converters are used by one task at a time
// but may be shared; implementations are safe for concurrent use.
type Converter interface {
	// FromConnect encodes v, whose schema is s (nil: schemaless).
	FromConnect(topic string, s *plugin.Schema, v any) ([]byte, error)
	// ToConnect decodes b into a value and its schema (nil: schemaless).
	// Returned schemas may be shared between calls and must not be changed.
	ToConnect(topic string, b []byte) (*plugin.Schema, any, error)
}

// Converter class names Kafka Connect configs use.
const (
	JSONConverterClass      = "org.apache.kafka.connect.json.JsonConverter"
	StringConverterClass    = "org.apache.kafka.connect.storage.StringConverter"
	ByteArrayConverterClass = "org.apache.kafka.connect.converters.ByteArrayConverter"
	AvroConverterClass      = "io.confluent.connect.avro.AvroConverter"
)

// NewConverter builds the converter named by class with its own settings
// (the keys after "key.converter." or "value.converter."); isKey says which
// side it converts (subject names of the Avro converter depend on it).
func NewConverter(class string, cfg map[string]string, isKey bool) (Converter, error) {
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
		if v, ok := cfg["replace.null.with.default"]; ok {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
			case "false":
				c.KeepNulls = true
			default:
				return nil, fmt.Errorf("Invalid value %s for configuration replace.null.with.default: Expected value to be either true or false", v)
			}
		}
		if v, ok := cfg["decimal.format"]; ok {
			switch strings.ToUpper(strings.TrimSpace(v)) {
			case "BASE64":
			case "NUMERIC":
				c.DecimalNumeric = true
			default:
				return nil, fmt.Errorf("Invalid value %s for configuration decimal.format: String must be one of (case insensitive): BASE64, NUMERIC", v)
			}
		}
		return c, nil
	case "StringConverter":
		return StringConverter{}, nil
	case "ByteArrayConverter":
		return ByteArrayConverter{}, nil
	case "AvroConverter":
		return NewAvroConverter(cfg, isKey)
	}
	return nil, fmt.Errorf("Class %s could not be found.", class)
}

func simpleName(class string) string {
	class = strings.TrimSpace(class)
	return class[strings.LastIndex(class, ".")+1:]
}

var (
	optionalString = &plugin.Schema{Type: plugin.String, Optional: true}
	optionalBytes  = &plugin.Schema{Type: plugin.Bytes, Optional: true}
)

// StringConverter is org.apache.kafka.connect.storage.StringConverter.
type StringConverter struct{}

// FromConnect writes v as UTF-8 text.
func (StringConverter) FromConnect(_ string, _ *plugin.Schema, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(x), nil
	case []byte:
		return x, nil
	case map[string]any, []any, *plugin.Struct:
		return json.Marshal(x)
	}
	return []byte(fmt.Sprint(v)), nil
}

// ToConnect reads b as an optional string, as Kafka does.
func (StringConverter) ToConnect(_ string, b []byte) (*plugin.Schema, any, error) {
	if b == nil {
		return optionalString, nil, nil
	}
	return optionalString, string(b), nil
}

// ByteArrayConverter is org.apache.kafka.connect.converters.ByteArrayConverter.
type ByteArrayConverter struct{}

// FromConnect passes bytes through; anything else is an error, as in Kafka.
func (ByteArrayConverter) FromConnect(_ string, s *plugin.Schema, v any) ([]byte, error) {
	if s != nil && s.Type != plugin.Bytes {
		return nil, fmt.Errorf("Invalid schema type for ByteArrayConverter: %s", s.Type)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	}
	return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", v)
}

// ToConnect returns b as optional bytes.
func (ByteArrayConverter) ToConnect(_ string, b []byte) (*plugin.Schema, any, error) {
	if b == nil {
		return optionalBytes, nil, nil
	}
	return optionalBytes, b, nil
}
