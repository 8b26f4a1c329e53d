package postgrescdc

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Builtin type OIDs (pg_type.h).
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// arrayElem maps builtin array type OIDs to their element type.
var arrayElem = map[uint32]uint32{
	1000: oidBool, 1001: oidBytea, 1002: oidChar, 1003: oidName, 1005: oidInt2, 1007: oidInt4,
	1016: oidInt8, 1009: oidText, 1015: oidVarchar, 1014: oidBpchar, 1021: oidFloat4, 1022: oidFloat8,
	1231: oidNumeric, 2951: oidUUID, 1182: oidDate, 1183: oidTime, 1115: oidTimestamp, 1185: oidTimestamptz,
	199: oidJSON, 3807: oidJSONB, 1028: oidOID,
}

// pgType is what the catalog says about a type we do not know by OID.
type pgType struct {
	Name     string
	Kind     byte     // pg_type.typtype: 'b' base, 'e' enum, 'd' domain, ...
	Elem     uint32   // element type of an array
	Base     uint32   // base type of a domain
	Labels   []string // enum labels in order
	Category byte     // pg_type.typcategory ('A' arrays)
}

// typeLookup resolves non-builtin OIDs through the catalog; nil means
// unknown.
type typeLookup func(oid uint32) *pgType

// decodeFn turns a column's text form into Connect data.
type decodeFn func(text string) (any, error)

// Debezium's logical type names.
const (
	dbzDate           = "io.debezium.time.Date"
	dbzTime           = "io.debezium.time.Time"
	dbzMicroTime      = "io.debezium.time.MicroTime"
	dbzTimestamp      = "io.debezium.time.Timestamp"
	dbzMicroTimestamp = "io.debezium.time.MicroTimestamp"
	dbzZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	dbzZonedTime      = "io.debezium.time.ZonedTime"
	dbzMicroDuration  = "io.debezium.time.MicroDuration"
	dbzUUID           = "io.debezium.data.Uuid"
	dbzJSON           = "io.debezium.data.Json"
	dbzXML            = "io.debezium.data.Xml"
	dbzEnum           = "io.debezium.data.Enum"
	dbzVarDecimal     = "io.debezium.data.VariableScaleDecimal"
	connectDecimal    = "org.apache.kafka.connect.data.Decimal"
	connectDate       = "org.apache.kafka.connect.data.Date"
	connectTime       = "org.apache.kafka.connect.data.Time"
	connectTimestamp  = "org.apache.kafka.connect.data.Timestamp"
)

// typeMapper maps PostgreSQL column types to Connect schemas and value
// decoders under the connector's handling modes.
type typeMapper struct {
	decimalMode string // precise, double, string
	timeMode    string // adaptive, adaptive_time_microseconds, connect
	lookup      typeLookup
}

// column returns the schema and decoder for a column. Types it does not
// know degrade to their text form as an optional string.
func (m *typeMapper) column(oid uint32, typmod int32, optional bool) (*plugin.Schema, decodeFn) {
	s, fn := m.mapType(oid, typmod, 0)
	s.Optional = optional
	return s, fn
}

func named(t plugin.SchemaType, name string) *plugin.Schema {
	return &plugin.Schema{Type: t, Name: name, Version: 1}
}

func (m *typeMapper) mapType(oid uint32, typmod int32, depth int) (*plugin.Schema, decodeFn) {
	switch oid {
	case oidBool:
		return &plugin.Schema{Type: plugin.Boolean}, func(s string) (any, error) { return s == "t", nil }
	case oidInt2:
		return &plugin.Schema{Type: plugin.Int16}, parseInt
	case oidInt4:
		return &plugin.Schema{Type: plugin.Int32}, parseInt
	case oidInt8, oidOID:
		return &plugin.Schema{Type: plugin.Int64}, parseInt
	case oidFloat4:
		return &plugin.Schema{Type: plugin.Float32}, parseFloat
	case oidFloat8:
		return &plugin.Schema{Type: plugin.Float64}, parseFloat
	case oidText, oidVarchar, oidBpchar, oidName, oidChar:
		return &plugin.Schema{Type: plugin.String}, parseString
	case oidUUID:
		return named(plugin.String, dbzUUID), parseString
	case oidJSON, oidJSONB:
		return named(plugin.String, dbzJSON), parseString
	case oidXML:
		return named(plugin.String, dbzXML), parseString
	case oidBytea:
		return &plugin.Schema{Type: plugin.Bytes}, parseBytea
	case oidNumeric:
		return m.numeric(typmod)
	case oidDate:
		if m.timeMode == "connect" {
			return named(plugin.Int32, connectDate), parseDate
		}
		return named(plugin.Int32, dbzDate), parseDate
	case oidTime:
		p := precision(typmod)
		switch {
		case m.timeMode == "connect":
			return named(plugin.Int32, connectTime), timeOfDay(time.Millisecond)
		case m.timeMode == "adaptive" && p <= 3:
			return named(plugin.Int32, dbzTime), timeOfDay(time.Millisecond)
		}
		return named(plugin.Int64, dbzMicroTime), timeOfDay(time.Microsecond)
	case oidTimestamp:
		p := precision(typmod)
		switch {
		case m.timeMode == "connect":
			return named(plugin.Int64, connectTimestamp), timestamp(time.Millisecond)
		case p <= 3:
			return named(plugin.Int64, dbzTimestamp), timestamp(time.Millisecond)
		}
		return named(plugin.Int64, dbzMicroTimestamp), timestamp(time.Microsecond)
	case oidTimestamptz:
		return named(plugin.String, dbzZonedTimestamp), zonedTimestamp
	case oidTimetz:
		return named(plugin.String, dbzZonedTime), zonedTime
	case oidInterval:
		return named(plugin.Int64, dbzMicroDuration), parseInterval
	}
	if elem, ok := arrayElem[oid]; ok && depth == 0 {
		return m.array(elem, typmod)
	}
	if m.lookup != nil && depth < 4 {
		if t := m.lookup(oid); t != nil {
			switch {
			case t.Kind == 'e':
				s := named(plugin.String, dbzEnum)
				s.Parameters = map[string]string{"allowed": strings.Join(t.Labels, ",")}
				return s, parseString
			case t.Kind == 'd' && t.Base != 0:
				return m.mapType(t.Base, typmod, depth+1)
			case t.Category == 'A' && t.Elem != 0 && depth == 0:
				return m.array(t.Elem, -1)
			}
		}
	}
	// Unknown: the text form, never a failure.
	return &plugin.Schema{Type: plugin.String}, parseString
}

func (m *typeMapper) array(elem uint32, typmod int32) (*plugin.Schema, decodeFn) {
	es, efn := m.mapType(elem, typmod, 1)
	es.Optional = true
	return &plugin.Schema{Type: plugin.Array, Items: es}, func(s string) (any, error) {
		items, err := parseArray(s)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			if it == nil {
				continue
			}
			if out[i], err = efn(*it); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// precision is a time type's fractional digits (6 when unspecified).
func precision(typmod int32) int {
	if typmod < 0 {
		return 6
	}
	return int(typmod)
}

func (m *typeMapper) numeric(typmod int32) (*plugin.Schema, decodeFn) {
	switch m.decimalMode {
	case "double":
		return &plugin.Schema{Type: plugin.Float64}, parseFloat
	case "string":
		return &plugin.Schema{Type: plugin.String}, parseString
	}
	if typmod < 4 {
		s := &plugin.Schema{Type: plugin.StructT, Name: dbzVarDecimal, Version: 1, Doc: "Variable scaled decimal", Fields: []plugin.Field{
			{Name: "scale", Schema: &plugin.Schema{Type: plugin.Int32}},
			{Name: "value", Schema: &plugin.Schema{Type: plugin.Bytes}},
		}}
		return s, func(text string) (any, error) {
			unscaled, scale, err := parseDecimal(text)
			if err != nil {
				return nil, err
			}
			st := plugin.NewStruct(s)
			st.Put("scale", int64(scale)).Put("value", unscaled)
			return st, nil
		}
	}
	prec := int((typmod - 4) >> 16 & 0xffff)
	scale := int((typmod - 4) & 0xffff)
	s := named(plugin.Bytes, connectDecimal)
	s.Parameters = map[string]string{"scale": strconv.Itoa(scale), "connect.decimal.precision": strconv.Itoa(prec)}
	return s, func(text string) (any, error) {
		unscaled, sc, err := parseDecimal(text)
		if err != nil {
			return nil, err
		}
		if sc != scale { // numeric(p,s) always prints s digits
			return nil, fmt.Errorf("numeric %q has scale %d, column scale %d", text, sc, scale)
		}
		return unscaled, nil
	}
}

// errUnsupported marks values the connector cannot represent under its
// settings; the task fails with the message.
type errUnsupported struct{ msg string }

func (e errUnsupported) Error() string { return e.msg }

// parseDecimal returns a decimal's unscaled two's-complement big-endian
// bytes and its scale.
func parseDecimal(text string) ([]byte, int, error) {
	switch text {
	case "NaN", "Infinity", "-Infinity":
		return nil, 0, errUnsupported{fmt.Sprintf("numeric value %s cannot be represented with decimal.handling.mode=precise; use double or string", text)}
	}
	digits, frac, _ := strings.Cut(text, ".")
	n, ok := new(big.Int).SetString(digits+frac, 10)
	if !ok {
		return nil, 0, fmt.Errorf("invalid numeric %q", text)
	}
	return twosComplement(n), len(frac), nil
}

// twosComplement is Kafka Connect's Decimal encoding (BigInteger.toByteArray).
func twosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n = ^(n-1): encode the magnitude minus one, then invert.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

func parseString(s string) (any, error) { return s, nil }

func parseInt(s string) (any, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid integer %q", s)
	}
	return v, nil
}

func parseFloat(s string) (any, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("invalid float %q", s)
	}
	return v, nil
}

func parseBytea(s string) (any, error) {
	if !strings.HasPrefix(s, `\x`) {
		return nil, fmt.Errorf("bytea not in hex format (set bytea_output=hex)")
	}
	return hex.DecodeString(s[2:])
}

func parseDate(s string) (any, error) {
	switch s {
	case "infinity":
		return int64(math.MaxInt32), nil
	case "-infinity":
		return int64(math.MinInt32), nil
	}
	bc := strings.HasSuffix(s, " BC")
	t, err := time.Parse("2006-01-02", strings.TrimSuffix(s, " BC"))
	if err != nil {
		return nil, fmt.Errorf("invalid date %q", s)
	}
	if bc {
		t = t.AddDate(-2*t.Year()+1, 0, 0)
	}
	return int64(math.Floor(float64(t.Unix()) / 86400)), nil
}

func timeOfDay(unit time.Duration) decodeFn {
	return func(s string) (any, error) {
		if s == "24:00:00" {
			return int64(24 * time.Hour / unit), nil
		}
		t, err := time.Parse("15:04:05.999999", s)
		if err != nil {
			return nil, fmt.Errorf("invalid time %q", s)
		}
		d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
		return int64(d / unit), nil
	}
}

func parseTimestamp(s string) (time.Time, error) {
	bc := strings.HasSuffix(s, " BC")
	s = strings.TrimSuffix(s, " BC")
	t, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		t, err = time.Parse("2006-01-02 15:04:05.999999Z07", s)
		if err != nil {
			t, err = time.Parse("2006-01-02 15:04:05.999999Z07:00", s)
		}
	}
	if err != nil {
		return t, fmt.Errorf("invalid timestamp %q", s)
	}
	if bc {
		t = t.AddDate(-2*t.Year()+1, 0, 0)
	}
	return t, nil
}

func timestamp(unit time.Duration) decodeFn {
	return func(s string) (any, error) {
		switch s {
		case "infinity":
			return int64(math.MaxInt64), nil
		case "-infinity":
			return int64(math.MinInt64), nil
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return nil, err
		}
		if unit == time.Millisecond {
			return t.UnixMilli(), nil
		}
		return t.UnixMicro(), nil
	}
}

// zonedTimestamp formats as Java's ISO_OFFSET_DATE_TIME in UTC, as
// Debezium's ZonedTimestamp does (fraction only as long as needed).
func zonedTimestamp(s string) (any, error) {
	switch s {
	case "infinity", "-infinity":
		return s, nil
	}
	t, err := parseTimestamp(s)
	if err != nil {
		return nil, err
	}
	return t.UTC().Format("2006-01-02T15:04:05.999999999Z07:00"), nil
}

func zonedTime(s string) (any, error) {
	t, err := time.Parse("15:04:05.999999Z07", s)
	if err != nil {
		t, err = time.Parse("15:04:05.999999Z07:00", s)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid timetz %q", s)
	}
	return t.UTC().Format("15:04:05.999999999Z07:00"), nil
}

// parseInterval reads IntervalStyle=postgres output ("1 year 2 mons 3 days
// 04:05:06.5") as microseconds, months counting 30.4375 days as Debezium's
// MicroDuration does.
func parseInterval(s string) (any, error) {
	const day = 24 * 3600 * 1e6
	var total float64
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		tok := f[i]
		if strings.Contains(tok, ":") {
			neg := strings.HasPrefix(tok, "-")
			tok = strings.TrimLeft(tok, "+-")
			parts := strings.Split(tok, ":")
			if len(parts) != 3 {
				return nil, fmt.Errorf("invalid interval %q", s)
			}
			h, e1 := strconv.ParseFloat(parts[0], 64)
			mi, e2 := strconv.ParseFloat(parts[1], 64)
			sec, e3 := strconv.ParseFloat(parts[2], 64)
			if e1 != nil || e2 != nil || e3 != nil {
				return nil, fmt.Errorf("invalid interval %q", s)
			}
			v := (h*3600 + mi*60 + sec) * 1e6
			if neg {
				v = -v
			}
			total += v
			continue
		}
		n, err := strconv.ParseFloat(tok, 64)
		if err != nil || i+1 >= len(f) {
			return nil, fmt.Errorf("invalid interval %q", s)
		}
		i++
		switch unit := strings.TrimSuffix(f[i], "s"); unit {
		case "year":
			total += n * 12 * 30.4375 * day
		case "mon":
			total += n * 30.4375 * day
		case "day":
			total += n * day
		default:
			return nil, fmt.Errorf("invalid interval %q", s)
		}
	}
	return int64(math.Round(total)), nil
}

// parseArray splits a one-dimensional array literal ({a,"b c",NULL}) into
// its items' text; nil items are NULL.
func parseArray(s string) ([]*string, error) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		// e.g. "[0:1]={1,2}" (non-default bounds)
		if i := strings.Index(s, "="); i > 0 && s[0] == '[' {
			return parseArray(s[i+1:])
		}
		return nil, fmt.Errorf("invalid array %q", s)
	}
	body := s[1 : len(s)-1]
	var out []*string
	if body == "" {
		return []*string{}, nil
	}
	for i := 0; i <= len(body); {
		if i < len(body) && body[i] == '{' {
			return nil, errUnsupported{"multi-dimensional arrays are not supported"}
		}
		var item strings.Builder
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				item.WriteByte(body[i])
				i++
			}
			i++ // closing quote
		} else {
			for i < len(body) && body[i] != ',' {
				item.WriteByte(body[i])
				i++
			}
		}
		v := item.String()
		if !quoted && v == "NULL" {
			out = append(out, nil)
		} else {
			out = append(out, &v)
		}
		if i >= len(body) {
			break
		}
		if body[i] != ',' {
			return nil, fmt.Errorf("invalid array %q", s)
		}
		i++
	}
	return out, nil
}

// zeroValue is what Debezium puts in a NOT NULL column whose value the
// change does not carry (a delete under REPLICA IDENTITY DEFAULT).
func zeroValue(s *plugin.Schema) any {
	switch s.Type {
	case plugin.Int8, plugin.Int16, plugin.Int32, plugin.Int64:
		return int64(0)
	case plugin.Float32, plugin.Float64:
		return float64(0)
	case plugin.Boolean:
		return false
	case plugin.String:
		return ""
	case plugin.Bytes:
		if s.Name == connectDecimal {
			return []byte{0}
		}
		return []byte{}
	case plugin.Array:
		return []any{}
	case plugin.StructT:
		st := plugin.NewStruct(s)
		for _, f := range s.Fields {
			if !f.Schema.Optional {
				st.Put(f.Name, zeroValue(f.Schema))
			}
		}
		return st
	}
	return nil
}
