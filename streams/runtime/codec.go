package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/streams/plan"
)

// DecodeValue decodes a record value in the source's format. A nil slice
// is a tombstone and decodes to nil. Declared int/float/string/bool fields
// are converted so expressions see the types they were checked against.
func DecodeValue(s plan.Source, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	if s.Value.Format == "string" {
		return string(b), nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if s.Internal {
		d.UseNumber()
	}
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("value is not JSON: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("value is not JSON: trailing data")
	}
	if s.Internal {
		v = numbers(v)
	}
	return coerceFields(s, v)
}

// coerceFields converts a decoded value's declared fields to their types.
func coerceFields(s plan.Source, v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if len(s.Coerce) > 0 {
			return nil, fmt.Errorf("value is a JSON %T, not an object", v)
		}
		return v, nil
	}
	for name, typ := range s.Coerce {
		x, ok := m[name]
		if !ok || x == nil {
			continue
		}
		c, err := coerce(x, typ)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		m[name] = c
	}
	return m, nil
}

// numbers turns json.Numbers into ints where integral, else float64s.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

func coerce(x any, typ string) (any, error) {
	switch typ {
	case "int":
		if i, ok := x.(int); ok {
			return i, nil
		}
		if f, ok := x.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int(f), nil
		}
	case "float":
		if f, ok := x.(float64); ok {
			return f, nil
		}
		if i, ok := x.(int); ok {
			return float64(i), nil
		}
	case "string":
		if s, ok := x.(string); ok {
			return s, nil
		}
	case "bool":
		if b, ok := x.(bool); ok {
			return b, nil
		}
	default:
		return x, nil
	}
	return nil, fmt.Errorf("%v is not a%s %s", x, map[bool]string{true: "n"}[typ == "int"], typ)
}

// DecodeKey decodes a record key: text for string keys, JSON otherwise.
func DecodeKey(s plan.Source, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	if s.Key.Format != "json" {
		return string(b), nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("key is not JSON: %w", err)
	}
	return v, nil
}

// EventTime is the record's event time in ms: the source's time field
// (epoch milliseconds or an RFC 3339 string) or else the record timestamp.
func EventTime(s plan.Source, v any, recordMs int64) (int64, error) {
	if s.TimeField == "" || v == nil {
		return recordMs, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return 0, fmt.Errorf("time field %q: value is not an object", s.TimeField)
	}
	switch x := m[s.TimeField].(type) {
	case float64:
		return int64(x), nil
	case int:
		return int64(x), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return 0, fmt.Errorf("time field %q: %w", s.TimeField, err)
		}
		return t.UnixMilli(), nil
	case nil:
		return 0, fmt.Errorf("time field %q is missing", s.TimeField)
	default:
		return 0, fmt.Errorf("time field %q is a %T", s.TimeField, x)
	}
}

// EncodeValue encodes an output value; nil stays nil (a tombstone).
func EncodeValue(format string, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if format == "string" {
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
		return []byte(KeyString(v)), nil
	}
	return json.Marshal(v)
}
