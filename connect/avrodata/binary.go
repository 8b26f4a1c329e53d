package avrodata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/connect/plugin"
)

// AppendBinary appends v, a Connect value of schema s, in Avro's binary
// encoding for the schema ToAvroSchema(s) returns: the bytes goavro's
// codec writes for ToAvroValue's result, without building that result (no
// maps per record). Map entries are written in key order (goavro writes
// them in Go's random map order), so equal values give equal bytes.
func AppendBinary(dst []byte, s *plugin.Schema, v any) ([]byte, error) {
	n, err := plan(s)
	if err != nil {
		return nil, err
	}
	return appendValue(dst, n, v)
}

// appendValue is toAvro followed by goavro's encoding: an optional value
// is a union with null.
func appendValue(b []byte, n *node, v any) ([]byte, error) {
	if v == nil {
		if n.optional {
			return appendLong(b, n.nullIndex()), nil
		}
		if n.s.Optional { // a Union struct whose first member is null
			return appendLong(b, 0), nil
		}
		if n.s.Default == nil {
			return nil, fmt.Errorf("null value for a required %s schema", n.s.Type)
		}
		v = n.s.Default
	}
	if n.optional {
		b = appendLong(b, 1-n.nullIndex())
	}
	return appendBranch(b, n, v)
}

// nullIndex is the null member's place in an optional schema's union.
func (n *node) nullIndex() int64 {
	if n.nullLast {
		return 1
	}
	return 0
}

func appendBranch(b []byte, n *node, v any) ([]byte, error) {
	switch n.kind {
	case "int":
		i, err := avroInt(n, v)
		if err != nil {
			return nil, err
		}
		return appendLong(b, int64(i)), nil
	case "long":
		i, err := avroLong(n, v)
		if err != nil {
			return nil, err
		}
		return appendLong(b, i), nil
	case "float":
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
	case "double":
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case "boolean":
		x, ok := v.(bool)
		if !ok {
			return nil, typeErr(n, v)
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(n, v)
		}
		b = appendLong(b, int64(len(s)))
		return append(b, s...), nil
	case "enum":
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(n, v)
		}
		i := slices.Index(n.symbols, s)
		if i < 0 {
			return nil, fmt.Errorf("value %q is not a symbol of enum %s (%s)", s, n.branch, strings.Join(n.symbols, ", "))
		}
		return appendLong(b, int64(i)), nil
	case "fixed":
		x, ok := v.([]byte)
		if !ok || len(x) != n.scale {
			return nil, fmt.Errorf("fixed %s needs %d bytes, got %T", n.branch, n.scale, v)
		}
		return append(b, x...), nil
	case "bytes":
		if n.logical == "decimal" {
			r, err := decimalRat(n, v)
			if err != nil {
				return nil, err
			}
			// As goavro: floor(value × 10^scale) in two's complement.
			num := new(big.Int).Mul(r.Num(), pow10(n.scale))
			num.Div(num, r.Denom())
			return appendBytes(b, UnscaledBytes(num)), nil
		}
		switch x := v.(type) {
		case []byte:
			return appendBytes(b, x), nil
		case string:
			b = appendLong(b, int64(len(x)))
			return append(b, x...), nil
		}
		return nil, typeErr(n, v)
	case "array":
		if xs, ok := v.([]any); ok {
			if len(xs) > 0 {
				b = appendLong(b, int64(len(xs)))
			}
			for i, x := range xs {
				var err error
				if b, err = appendValue(b, n.items, x); err != nil {
					return nil, fmt.Errorf("array item %d: %w", i, err)
				}
			}
			return append(b, 0), nil
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, typeErr(n, v)
		}
		if rv.Len() > 0 {
			b = appendLong(b, int64(rv.Len()))
		}
		for i := 0; i < rv.Len(); i++ {
			var err error
			if b, err = appendValue(b, n.items, rv.Index(i).Interface()); err != nil {
				return nil, fmt.Errorf("array item %d: %w", i, err)
			}
		}
		return append(b, 0), nil
	case "map":
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
			return nil, typeErr(n, v)
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		if len(keys) > 0 {
			b = appendLong(b, int64(len(keys)))
		}
		for _, k := range keys {
			b = appendLong(b, int64(len(k.String())))
			b = append(b, k.String()...)
			var err error
			if b, err = appendValue(b, n.values, rv.MapIndex(k).Interface()); err != nil {
				return nil, fmt.Errorf("map value %s: %w", k.String(), err)
			}
		}
		return append(b, 0), nil
	case "mapentries":
		entries, sorted, err := mapEntries(n, v)
		if err != nil {
			return nil, err
		}
		type entry struct{ k, v []byte }
		out := make([]entry, len(entries))
		for i, e := range entries {
			k, err := appendValue(nil, n.keys, e.Key)
			if err != nil {
				return nil, fmt.Errorf("map key: %w", err)
			}
			val, err := appendValue(nil, n.values, e.Value)
			if err != nil {
				return nil, fmt.Errorf("map value: %w", err)
			}
			out[i] = entry{k, val}
		}
		if !sorted { // a Go map: order by encoded key
			slices.SortFunc(out, func(a, b entry) int { return bytes.Compare(a.k, b.k) })
		}
		if len(out) > 0 {
			b = appendLong(b, int64(len(out)))
		}
		for _, e := range out {
			b = append(b, e.k...)
			b = append(b, e.v...)
		}
		return append(b, 0), nil
	case "record":
		get, err := fieldGetter(n, v)
		if err != nil {
			return nil, err
		}
		for _, f := range n.fields {
			if b, err = appendValue(b, f.n, get(f.name)); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
		}
		return b, nil
	case "union":
		get, err := fieldGetter(n, v)
		if err != nil {
			return nil, err
		}
		first := int64(0)
		if n.s.Optional {
			first = 1
		}
		for i, br := range n.branches {
			if x := get(br.name); x != nil {
				b = appendLong(b, first+int64(i))
				if b, err = appendBranch(b, br.n, x); err != nil {
					return nil, fmt.Errorf("union branch %s: %w", br.name, err)
				}
				return b, nil
			}
		}
		return nil, fmt.Errorf("union value with no branch set")
	}
	return nil, fmt.Errorf("unsupported Avro type %s", n.kind)
}

// appendLong writes Avro's zig-zag varint.
func appendLong(b []byte, i int64) []byte {
	return binary.AppendUvarint(b, uint64(i<<1)^uint64(i>>63))
}

func appendBytes(b, x []byte) []byte {
	b = appendLong(b, int64(len(x)))
	return append(b, x...)
}
