package plugin

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Type is a config value's type, named as Kafka's ConfigDef.Type.
type Type string

// The config types Kafka Connect knows.
const (
	TypeString   Type = "STRING"
	TypeInt      Type = "INT"
	TypeLong     Type = "LONG"
	TypeDouble   Type = "DOUBLE"
	TypeBoolean  Type = "BOOLEAN"
	TypeList     Type = "LIST"
	TypePassword Type = "PASSWORD"
	TypeClass    Type = "CLASS"
)

// Importance is how much a user should care about a key.
type Importance string

// Importances as Kafka names them.
const (
	High   Importance = "HIGH"
	Medium Importance = "MEDIUM"
	Low    Importance = "LOW"
)

// Validator checks a present value (already known to parse as its Type).
type Validator func(name, value string) error

// ConfigKey defines one configuration key.
type ConfigKey struct {
	Name          string
	Type          Type
	Default       string // used when the key is absent and not Required
	Required      bool   // no default: the user must set it
	Validator     Validator
	Importance    Importance
	Documentation string
	Group         string
}

// ConfigDef is an ordered list of keys.
type ConfigDef []ConfigKey

// ConfigValue is the validation result for one key, in the JSON shape of
// Kafka Connect's /config/validate response.
type ConfigValue struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// Validate checks cfg against d and returns one result per key (in d's
// order) and the number of errors.
func (d ConfigDef) Validate(cfg map[string]string) ([]ConfigValue, int) {
	out := make([]ConfigValue, 0, len(d))
	n := 0
	for _, k := range d {
		cv := ConfigValue{Name: k.Name, RecommendedValues: []string{}, Errors: []string{}, Visible: true}
		v, ok := cfg[k.Name]
		switch {
		case ok:
			vv := v
			cv.Value = &vv
			if k.Type == TypePassword {
				hidden := "[hidden]"
				cv.Value = &hidden
			}
			if err := k.check(v); err != nil {
				cv.Errors = append(cv.Errors, err.Error())
			}
		case k.Required:
			cv.Errors = append(cv.Errors, fmt.Sprintf("Missing required configuration \"%s\" which has no default value.", k.Name))
		default:
			dv := k.Default
			cv.Value = &dv
		}
		n += len(cv.Errors)
		out = append(out, cv)
	}
	return out, n
}

func (k ConfigKey) check(v string) error {
	s := strings.TrimSpace(v)
	bad := func() error {
		return fmt.Errorf("Invalid value %s for configuration %s: Not a %s", v, k.Name, strings.ToLower(string(k.Type)))
	}
	switch k.Type {
	case TypeInt:
		if _, err := strconv.ParseInt(s, 10, 32); err != nil {
			return bad()
		}
	case TypeLong:
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return bad()
		}
	case TypeDouble:
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return bad()
		}
	case TypeBoolean:
		if !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") {
			return fmt.Errorf("Invalid value %s for configuration %s: Expected value to be either true or false", v, k.Name)
		}
	}
	if k.Validator != nil {
		return k.Validator(k.Name, v)
	}
	return nil
}

// Parsed reads typed values from a validated config, applying defaults.
type Parsed struct {
	def ConfigDef
	cfg map[string]string
}

// Parse validates cfg and returns typed access to it, or an error naming
// every problem.
func (d ConfigDef) Parse(cfg map[string]string) (Parsed, error) {
	vals, n := d.Validate(cfg)
	if n > 0 {
		var msgs []string
		for _, v := range vals {
			msgs = append(msgs, v.Errors...)
		}
		return Parsed{}, fmt.Errorf("invalid configuration: %s", strings.Join(msgs, "; "))
	}
	return Parsed{def: d, cfg: cfg}, nil
}

func (p Parsed) raw(name string) string {
	if v, ok := p.cfg[name]; ok {
		return strings.TrimSpace(v)
	}
	for _, k := range p.def {
		if k.Name == name {
			return k.Default
		}
	}
	return ""
}

// String returns a key's value.
func (p Parsed) String(name string) string { return p.raw(name) }

// Int returns an INT or LONG key's value (0 when empty).
func (p Parsed) Int(name string) int64 {
	n, _ := strconv.ParseInt(p.raw(name), 10, 64)
	return n
}

// Float returns a DOUBLE key's value.
func (p Parsed) Float(name string) float64 {
	f, _ := strconv.ParseFloat(p.raw(name), 64)
	return f
}

// Bool returns a BOOLEAN key's value.
func (p Parsed) Bool(name string) bool { return strings.EqualFold(p.raw(name), "true") }

// List returns a LIST key's comma-separated items, trimmed, empty dropped.
func (p Parsed) List(name string) []string { return SplitList(p.raw(name)) }

// SplitList splits a Kafka LIST value.
func SplitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// OneOf accepts only the given values (case-sensitive, as Kafka's ValidString).
func OneOf(values ...string) Validator {
	return func(name, v string) error {
		for _, x := range values {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("Invalid value %s for configuration %s: String must be one of: %s", v, name, strings.Join(values, ", "))
	}
}

// AtLeast accepts numbers >= min.
func AtLeast(min float64) Validator {
	return func(name, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < min {
			return fmt.Errorf("Invalid value %s for configuration %s: Value must be at least %v", v, name, min)
		}
		return nil
	}
}

// NonEmpty rejects an empty string.
func NonEmpty() Validator {
	return func(name, v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("Invalid value %s for configuration %s: String must be non-empty", v, name)
		}
		return nil
	}
}

// Regex accepts a valid regular expression.
func Regex() Validator {
	return func(name, v string) error {
		if _, err := regexp.Compile(v); err != nil {
			return fmt.Errorf("Invalid value %s for configuration %s: %v", v, name, err)
		}
		return nil
	}
}
