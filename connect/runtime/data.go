package runtime

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
)

// Helpers over Connect data shared by converters and transforms.

func toFloat64(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	if i, err := plugin.ToInt64(v); err == nil {
		return float64(i), nil
	}
	return 0, fmt.Errorf("Invalid value for a floating point schema: %T", v)
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// decimalUnscaled reads a Decimal value: unscaled bytes (Connect's form),
// *big.Rat, *big.Int (already unscaled) or a decimal string.
func decimalUnscaled(s *plugin.Schema, v any) (*big.Int, error) {
	scale, _ := strconv.Atoi(s.Parameters[avrodata.ScaleParam])
	switch x := v.(type) {
	case []byte:
		return avrodata.Unscaled(x), nil
	case *big.Int:
		return x, nil
	case *big.Rat:
		r := new(big.Rat).Mul(x, new(big.Rat).SetInt(pow10(scale)))
		return new(big.Int).Quo(r.Num(), r.Denom()), nil
	case string:
		r, ok := new(big.Rat).SetString(x)
		if !ok {
			return nil, fmt.Errorf("Invalid decimal %q", x)
		}
		r.Mul(r, new(big.Rat).SetInt(pow10(scale)))
		return new(big.Int).Quo(r.Num(), r.Denom()), nil
	}
	return nil, fmt.Errorf("Invalid type for Decimal: %T", v)
}

// decimalString formats unscaled/10^scale as a plain number.
func decimalString(unscaled *big.Int, scale int) string {
	if scale <= 0 {
		return new(big.Int).Mul(unscaled, pow10(-scale)).String()
	}
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	for len(digits) <= scale {
		digits = "0" + digits
	}
	out := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if neg {
		out = "-" + out
	}
	return out
}

// logicalFromTime turns a time.Time into the integer a Date (days), Time
// (milliseconds of the day) or Timestamp (Unix milliseconds) carries.
func logicalFromTime(name string, t time.Time) int64 {
	switch name {
	case avrodata.DateName:
		d := t.Unix() / 86400
		if t.Unix() < 0 && t.Unix()%86400 != 0 {
			d--
		}
		return d
	case avrodata.TimeName:
		t = t.UTC()
		return int64((t.Hour()*3600+t.Minute()*60+t.Second())*1000 + t.Nanosecond()/1e6)
	}
	return t.UnixMilli()
}

// castNames maps Cast's type names onto schema types.
var castNames = map[string]plugin.SchemaType{
	"int8": plugin.Int8, "int16": plugin.Int16, "int32": plugin.Int32, "int64": plugin.Int64,
	"float32": plugin.Float32, "float64": plugin.Float64, "boolean": plugin.Boolean, "string": plugin.String,
}

// copySchema returns a shallow copy of s with its own field list.
func copySchema(s *plugin.Schema) *plugin.Schema {
	c := *s
	c.Fields = append([]plugin.Field(nil), s.Fields...)
	return &c
}

// schemaTypeName is how errors name a schema.
func schemaTypeName(s *plugin.Schema) string {
	if s == nil {
		return "schemaless"
	}
	if s.Name != "" {
		return strings.ToLower(string(s.Type)) + " " + s.Name
	}
	return string(s.Type)
}
