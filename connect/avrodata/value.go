package avrodata

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// ToAvroValue converts a Connect value of schema s to goavro's native form
// for the schema ToAvroSchema(s) returns.
func ToAvroValue(s *plugin.Schema, v any) (any, error) {
	n, err := plan(s)
	if err != nil {
		return nil, err
	}
	return toAvro(n, v, true)
}

// FromAvroValue converts what a goavro codec for ToAvroSchema(s) (or the
// Avro schema FromAvroSchema read s from) decoded into a Connect value.
func FromAvroValue(s *plugin.Schema, native any) (any, error) {
	n, err := plan(s)
	if err != nil {
		return nil, err
	}
	return fromAvro(n, native)
}

// toAvro converts v for node n; wrap puts a non-null optional value into
// its union member, as goavro wants (defaults are written unwrapped).
func toAvro(n *node, v any, wrap bool) (any, error) {
	if v == nil {
		if n.optional || n.s.Optional {
			return nil, nil
		}
		if n.s.Default != nil {
			v = n.s.Default
		} else {
			return nil, fmt.Errorf("null value for a required %s schema", n.s.Type)
		}
	}
	out, err := toAvroBranch(n, v)
	if err != nil {
		return nil, err
	}
	if wrap && n.optional {
		return map[string]any{n.branch: out}, nil
	}
	return out, nil
}

func toAvroBranch(n *node, v any) (any, error) {
	switch n.kind {
	case "int":
		return avroInt(n, v)
	case "long":
		return avroLong(n, v)
	case "float":
		f, err := toFloat(v)
		return float32(f), err
	case "double":
		return toFloat(v)
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, typeErr(n, v)
		}
		return b, nil
	case "string", "enum":
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(n, v)
		}
		return s, nil
	case "fixed":
		b, ok := v.([]byte)
		if !ok || len(b) != n.scale {
			return nil, fmt.Errorf("fixed %s needs %d bytes, got %T", n.branch, n.scale, v)
		}
		return b, nil
	case "bytes":
		if n.logical == "decimal" {
			return decimalRat(n, v)
		}
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
		return nil, typeErr(n, v)
	case "array":
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, typeErr(n, v)
		}
		out := make([]any, rv.Len())
		for i := range out {
			x, err := toAvro(n.items, rv.Index(i).Interface(), true)
			if err != nil {
				return nil, fmt.Errorf("array item %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	case "map":
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
			return nil, typeErr(n, v)
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			x, err := toAvro(n.values, it.Value().Interface(), true)
			if err != nil {
				return nil, fmt.Errorf("map value %s: %w", it.Key().String(), err)
			}
			out[it.Key().String()] = x
		}
		return out, nil
	case "mapentries":
		entries, _, err := mapEntries(n, v)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(entries))
		for i, e := range entries {
			k, err := toAvro(n.keys, e.Key, true)
			if err != nil {
				return nil, fmt.Errorf("map key: %w", err)
			}
			val, err := toAvro(n.values, e.Value, true)
			if err != nil {
				return nil, fmt.Errorf("map value: %w", err)
			}
			out[i] = map[string]any{"key": k, "value": val}
		}
		return out, nil
	case "record":
		get, err := fieldGetter(n, v)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			x, err := toAvro(f.n, get(f.name), true)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			out[scrub(f.name)] = x
		}
		return out, nil
	case "union":
		get, err := fieldGetter(n, v)
		if err != nil {
			return nil, err
		}
		for _, br := range n.branches {
			if x := get(br.name); x != nil {
				nat, err := toAvroBranch(br.n, x)
				if err != nil {
					return nil, fmt.Errorf("union branch %s: %w", br.name, err)
				}
				return map[string]any{br.n.branch: nat}, nil
			}
		}
		return nil, fmt.Errorf("union value with no branch set")
	}
	return nil, fmt.Errorf("unsupported Avro type %s", n.kind)
}

// avroInt is v as an Avro int under n: dates as days, time-millis as
// milliseconds of the day, integers range-checked for their Connect type.
func avroInt(n *node, v any) (int32, error) {
	switch n.logical {
	case "date":
		if t, ok := v.(time.Time); ok {
			return int32(t.Unix() / 86400), nil
		}
	case "time-millis":
		if t, ok := v.(time.Time); ok {
			t = t.UTC()
			return int32((t.Hour()*3600+t.Minute()*60+t.Second())*1000 + t.Nanosecond()/1e6), nil
		}
		if d, ok := v.(time.Duration); ok {
			return int32(d.Milliseconds()), nil
		}
	}
	i, err := plugin.ToInt64(v)
	if err != nil {
		return 0, err
	}
	lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
	switch n.s.Type {
	case plugin.Int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case plugin.Int16:
		lo, hi = math.MinInt16, math.MaxInt16
	}
	if i < lo || i > hi {
		return 0, fmt.Errorf("value %d out of range for %s", i, n.s.Type)
	}
	return int32(i), nil
}

// avroLong is v as an Avro long under n: timestamps as epoch milliseconds.
func avroLong(n *node, v any) (int64, error) {
	if t, ok := v.(time.Time); ok && n.logical != "" {
		return t.UnixMilli(), nil
	}
	return plugin.ToInt64(v)
}

func fieldGetter(n *node, v any) (func(string) any, error) {
	switch x := v.(type) {
	case *plugin.Struct:
		if x == nil {
			return nil, typeErr(n, v)
		}
		return x.Get, nil
	case plugin.Struct:
		return x.Get, nil
	case map[string]any:
		return func(k string) any { return x[k] }, nil
	}
	return nil, typeErr(n, v)
}

// mapEntries returns the entries of a Connect map value (the "mapentries"
// node): a []plugin.MapEntry as it is (ordered: true), or a Go map's
// entries in no particular order.
func mapEntries(n *node, v any) (entries []plugin.MapEntry, ordered bool, err error) {
	if x, ok := v.([]plugin.MapEntry); ok {
		return x, true, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return nil, false, typeErr(n, v)
	}
	it := rv.MapRange()
	for it.Next() {
		entries = append(entries, plugin.MapEntry{Key: it.Key().Interface(), Value: it.Value().Interface()})
	}
	return entries, false, nil
}

func typeErr(n *node, v any) error {
	name := string(n.s.Type)
	if n.s.Name != "" {
		name += " " + n.s.Name
	}
	return fmt.Errorf("value of type %T does not fit a %s schema", v, name)
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	if i, err := plugin.ToInt64(v); err == nil {
		return float64(i), nil
	}
	return 0, fmt.Errorf("value of type %T is not a number", v)
}

// decimalRat turns a Connect Decimal (unscaled bytes) into goavro's *big.Rat.
func decimalRat(n *node, v any) (*big.Rat, error) {
	switch x := v.(type) {
	case *big.Rat:
		return x, nil
	case []byte:
		return new(big.Rat).SetFrac(Unscaled(x), pow10(n.scale)), nil
	case *big.Int:
		return new(big.Rat).SetFrac(x, pow10(n.scale)), nil
	case string:
		r, ok := new(big.Rat).SetString(x)
		if !ok {
			return nil, fmt.Errorf("%q is not a decimal number", x)
		}
		return r, nil
	}
	return nil, typeErr(n, v)
}

// bytesFromNative gives the unscaled bytes of a decimal in native form.
func bytesFromNative(n *node, native any) ([]byte, error) {
	r, ok := native.(*big.Rat)
	if !ok {
		return nil, fmt.Errorf("decimal value of type %T", native)
	}
	num := new(big.Int).Mul(r.Num(), pow10(n.scale))
	num.Quo(num, r.Denom())
	return UnscaledBytes(num), nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// Unscaled reads a Decimal's two's-complement big-endian bytes.
func Unscaled(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}

// UnscaledBytes writes n as the shortest two's-complement big-endian bytes,
// as Java's BigInteger.toByteArray (Connect's Decimal form).
func UnscaledBytes(n *big.Int) []byte {
	switch n.Sign() {
	case 0:
		return []byte{0}
	case 1:
		b := n.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// Negative: 2^(8k) + n for the smallest k that keeps the sign bit set.
	k := (n.BitLen() + 8) / 8
	m := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(k)*8), n)
	b := m.Bytes()
	for len(b) < k {
		b = append([]byte{0xff}, b...)
	}
	for len(b) > 1 && b[0] == 0xff && b[1]&0x80 != 0 {
		b = b[1:]
	}
	return b
}

// fromAvro converts goavro's native value for node n into Connect data.
func fromAvro(n *node, native any) (any, error) {
	if native == nil {
		if n.optional || n.s.Optional {
			return nil, nil
		}
		return nil, fmt.Errorf("null value for a required %s schema", n.s.Type)
	}
	if n.optional {
		native = unwrapNative(n, native)
		if native == nil {
			return nil, nil
		}
	}
	switch n.kind {
	case "int", "long":
		switch x := native.(type) {
		case time.Time:
			if n.logical == "date" {
				return floorDiv(x.Unix(), 86400), nil
			}
			return x.UnixMilli(), nil
		case time.Duration:
			return x.Milliseconds(), nil
		}
		return plugin.ToInt64(native)
	case "float", "double":
		return toFloat(native)
	case "boolean", "string", "enum":
		return native, nil
	case "bytes", "fixed":
		if n.logical == "decimal" {
			if r, ok := native.(*big.Rat); ok {
				return bytesFromNative(n, r)
			}
		}
		if b, ok := native.([]byte); ok {
			return b, nil
		}
		if s, ok := native.(string); ok {
			return []byte(s), nil
		}
		return nil, typeErr(n, native)
	case "array":
		xs, ok := native.([]any)
		if !ok {
			return nil, typeErr(n, native)
		}
		out := make([]any, len(xs))
		for i, x := range xs {
			v, err := fromAvro(n.items, x)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case "map":
		m, ok := native.(map[string]any)
		if !ok {
			return nil, typeErr(n, native)
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			v, err := fromAvro(n.values, x)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case "mapentries":
		xs, ok := native.([]any)
		if !ok {
			return nil, typeErr(n, native)
		}
		out := make([]plugin.MapEntry, len(xs))
		for i, x := range xs {
			e, ok := x.(map[string]any)
			if !ok {
				return nil, typeErr(n, native)
			}
			k, err := fromAvro(n.keys, e["key"])
			if err != nil {
				return nil, err
			}
			v, err := fromAvro(n.values, e["value"])
			if err != nil {
				return nil, err
			}
			out[i] = plugin.MapEntry{Key: k, Value: v}
		}
		return out, nil
	case "record":
		m, ok := native.(map[string]any)
		if !ok {
			return nil, typeErr(n, native)
		}
		st := plugin.NewStruct(n.s)
		for _, f := range n.fields {
			v, err := fromAvro(f.n, m[scrub(f.name)])
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			if v != nil {
				st.Values[f.name] = v
			}
		}
		return st, nil
	case "union":
		m, ok := native.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, typeErr(n, native)
		}
		st := plugin.NewStruct(n.s)
		for _, br := range n.branches {
			if x, ok := branchValue(m, br); ok {
				c := *br.n
				c.optional = false
				v, err := fromAvro(&c, x)
				if err != nil {
					return nil, err
				}
				st.Values[br.name] = v
				return st, nil
			}
		}
		return nil, fmt.Errorf("union value %v matches no branch", native)
	}
	return nil, fmt.Errorf("unsupported Avro type %s", n.kind)
}

// unwrapNative takes an optional value out of goavro's union map. Schemas
// read from foreign Avro may name the member differently from what
// ToAvroSchema would (inherited namespaces), so any single key is accepted
// where the value cannot itself be a one-key map.
func unwrapNative(n *node, native any) any {
	m, ok := native.(map[string]any)
	if !ok || len(m) != 1 {
		return native
	}
	if x, ok := m[n.branch]; ok {
		return x
	}
	switch n.kind {
	case "map":
		return native
	case "record":
		for k, x := range m {
			if _, inner := x.(map[string]any); !inner {
				return native
			}
			for _, f := range n.fields {
				if scrub(f.name) == k {
					return native
				}
			}
			return x
		}
	}
	for _, x := range m {
		return x
	}
	return native
}

// branchValue finds a union member's value by goavro's member name, or by
// the simple name the Connect field carries.
func branchValue(m map[string]any, br fieldNode) (any, bool) {
	if x, ok := m[br.n.branch]; ok {
		return x, true
	}
	for k, x := range m {
		if _, simple := splitName(k); simple == br.name || k == br.name {
			return x, true
		}
	}
	return nil, false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
