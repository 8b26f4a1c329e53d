package s3sink

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/sluicehq/sluice/connect/plugin"
)

// appendJSON appends v as encoding/json writes it (structs as
// plugin.Struct's MarshalJSON does) without reflection for the types
// Connect data is made of; anything else goes through encoding/json.
// TestAppendJSONMatchesEncodingJSON holds the two to the same bytes.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case *plugin.Struct:
		if x == nil {
			return append(b, "null"...), nil
		}
		return appendStruct(b, x)
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		if f, ok := appendJSONFloat(b, x, 64); ok {
			return f, nil
		}
	case float32:
		if f, ok := appendJSONFloat(b, float64(x), 32); ok {
			return f, nil
		}
	case []byte:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return appendFields(b, keys, x)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendStruct writes a struct's fields in schema order (unset ones as
// null), or in name order when it has no field list.
func appendStruct(b []byte, st *plugin.Struct) ([]byte, error) {
	if st.Schema != nil && len(st.Schema.Fields) > 0 {
		b = append(b, '{')
		for i, f := range st.Schema.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f.Name)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, st.Values[f.Name]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	keys := make([]string, 0, len(st.Values))
	for k := range st.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return appendFields(b, keys, st.Values)
}

func appendFields(b []byte, keys []string, m map[string]any) ([]byte, error) {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSONString writes s quoted. Printable ASCII other than the
// characters encoding/json escapes (" \ < > &) is copied as it is; any
// other string is left to encoding/json, so escapes match it exactly.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat writes f as encoding/json does (shortest form, exponent
// only below 1e-6 or from 1e21, without a leading zero in the exponent);
// false for NaN and infinities, which JSON cannot hold.
func appendJSONFloat(b []byte, f float64, bits int) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
