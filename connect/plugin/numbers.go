package plugin

import (
	"fmt"
	"math"
)

// ToInt64 reads any Go integer, or a float holding a whole number (as JSON
// decoding gives), as an int64: how converters and transforms read Connect
// integer values whatever Go type a connector used.
func ToInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("value %d overflows int64", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("value %v is not an integer", x)
		}
		return int64(x), nil
	case float32:
		if float64(x) != math.Trunc(float64(x)) {
			return 0, fmt.Errorf("value %v is not an integer", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("Invalid value for an integer schema: %T", v)
}
