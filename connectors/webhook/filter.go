package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Filters decide which records are delivered: Lambda's filter patterns and
// expr-lang expressions, compiled once. A record passes when any filter
// matches it; with no filters every record passes.
type Filters struct {
	patterns []map[string]any
	programs []*vm.Program
}

// exprEnv is what expressions see; key and value are JSON-decoded when
// they are JSON, else strings.
type exprEnv struct {
	Topic     string            `expr:"topic"`
	Partition int               `expr:"partition"`
	Offset    int               `expr:"offset"`
	Timestamp int               `expr:"timestamp"`
	Key       any               `expr:"key"`
	Value     any               `expr:"value"`
	Headers   map[string]string `expr:"headers"`
}

// FilterSpec is one entry of the filters JSON array.
type FilterSpec struct {
	Pattern    string `json:"pattern,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// ParseFilters compiles the filters JSON array ("" means none).
func ParseFilters(s string) (*Filters, error) {
	f := &Filters{}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	var specs []FilterSpec
	if err := json.Unmarshal([]byte(s), &specs); err != nil {
		return nil, fmt.Errorf(`filters must be a JSON array of {"pattern":...} or {"expression":...}: %v`, err)
	}
	for i, sp := range specs {
		switch {
		case sp.Pattern != "" && sp.Expression != "":
			return nil, fmt.Errorf("filter %d: give a pattern or an expression, not both", i)
		case sp.Pattern != "":
			p, err := CompilePattern(sp.Pattern)
			if err != nil {
				return nil, fmt.Errorf("filter %d: %v", i, err)
			}
			f.patterns = append(f.patterns, p)
		case sp.Expression != "":
			prog, err := expr.Compile(sp.Expression, expr.AsBool(), expr.Env(exprEnv{}))
			if err != nil {
				return nil, fmt.Errorf("filter %d: expression: %v", i, err)
			}
			f.programs = append(f.programs, prog)
		default:
			return nil, fmt.Errorf("filter %d: empty (want a pattern or an expression)", i)
		}
	}
	return f, nil
}

// Empty reports whether no filter is set.
func (f *Filters) Empty() bool { return f == nil || len(f.patterns)+len(f.programs) == 0 }

// Match reports whether r passes. A failing expression counts as no match.
func (f *Filters) Match(r *record) bool {
	if f.Empty() {
		return true
	}
	doc := map[string]any{
		"topic": r.topic, "partition": float64(r.partition), "offset": float64(r.offset),
		"timestamp": float64(r.ts.UnixMilli()), "timestampType": "CREATE_TIME",
		"key": decodeData(r.key), "value": decodeData(r.value),
	}
	for _, p := range f.patterns {
		if matchObject(p, doc) {
			return true
		}
	}
	if len(f.programs) > 0 {
		hdrs := make(map[string]string, len(r.headers))
		for _, h := range r.headers {
			hdrs[h.Key] = string(h.Value)
		}
		env := exprEnv{Topic: r.topic, Partition: int(r.partition), Offset: int(r.offset), Timestamp: int(r.ts.UnixMilli()),
			Key: doc["key"], Value: doc["value"], Headers: hdrs}
		for _, p := range f.programs {
			if ok, err := expr.Run(p, env); err == nil && ok == true {
				return true
			}
		}
	}
	return false
}

// decodeData reads key or value bytes as JSON when they are JSON, else as a
// string (nil stays nil).
func decodeData(b []byte) any {
	if b == nil {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		return v
	}
	return string(b)
}

// CompilePattern parses and checks a Lambda (EventBridge-style) filter
// pattern: a JSON object whose leaves are arrays of match conditions.
func CompilePattern(s string) (map[string]any, error) {
	var p map[string]any
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("pattern is not a JSON object: %v", err)
	}
	if err := checkObject(p, ""); err != nil {
		return nil, err
	}
	return p, nil
}

func checkObject(p map[string]any, path string) error {
	if len(p) == 0 {
		return fmt.Errorf("pattern%s: empty object", at(path))
	}
	for k, v := range p {
		if k == "$or" {
			alts, ok := v.([]any)
			if !ok || len(alts) < 2 {
				return fmt.Errorf("pattern%s: $or needs an array of at least two patterns", at(path))
			}
			for _, a := range alts {
				m, ok := a.(map[string]any)
				if !ok {
					return fmt.Errorf("pattern%s: $or items must be objects", at(path))
				}
				if err := checkObject(m, path); err != nil {
					return err
				}
			}
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			if err := checkObject(x, path+"."+k); err != nil {
				return err
			}
		case []any:
			if len(x) == 0 {
				return fmt.Errorf("pattern%s: empty array matches nothing", at(path+"."+k))
			}
			for _, c := range x {
				if err := checkCondition(c); err != nil {
					return fmt.Errorf("pattern%s: %v", at(path+"."+k), err)
				}
			}
		default:
			return fmt.Errorf("pattern%s: values must be arrays of conditions or nested objects", at(path+"."+k))
		}
	}
	return nil
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return " at " + strings.TrimPrefix(path, ".")
}

func checkCondition(c any) error {
	m, ok := c.(map[string]any)
	if !ok {
		return nil // literal: string, number, bool, null
	}
	if len(m) != 1 {
		return errors.New("a condition object has exactly one operator")
	}
	for op, arg := range m {
		switch op {
		case "prefix", "suffix", "equals-ignore-case":
			if _, ok := arg.(string); !ok {
				if op == "prefix" || op == "suffix" {
					if mm, ok := arg.(map[string]any); ok {
						if s, ok := mm["equals-ignore-case"].(string); ok && len(mm) == 1 && s != "" {
							return nil
						}
					}
				}
				return fmt.Errorf("%s needs a string", op)
			}
		case "exists":
			if _, ok := arg.(bool); !ok {
				return errors.New("exists needs true or false")
			}
		case "anything-but":
			switch a := arg.(type) {
			case string, float64, bool:
			case []any:
				for _, x := range a {
					switch x.(type) {
					case string, float64:
					default:
						return errors.New("anything-but lists strings or numbers")
					}
				}
			case map[string]any:
				if len(a) != 1 {
					return errors.New("anything-but takes one of prefix, suffix, equals-ignore-case")
				}
				for k, v := range a {
					if _, ok := v.(string); !ok || (k != "prefix" && k != "suffix" && k != "equals-ignore-case") {
						return errors.New("anything-but takes one of prefix, suffix, equals-ignore-case with a string")
					}
				}
			default:
				return errors.New("bad anything-but argument")
			}
		case "numeric":
			a, ok := arg.([]any)
			if !ok || len(a) == 0 || len(a)%2 != 0 || len(a) > 4 {
				return errors.New(`numeric needs [op, n] or [op, n, op, n], e.g. [">", 0, "<=", 5]`)
			}
			for i := 0; i < len(a); i += 2 {
				op, _ := a[i].(string)
				if _, isNum := a[i+1].(float64); !isNum || !validNumOp(op) {
					return fmt.Errorf("numeric: bad comparison %v %v", a[i], a[i+1])
				}
			}
		default:
			return fmt.Errorf("unknown operator %q", op)
		}
	}
	return nil
}

func validNumOp(op string) bool {
	switch op {
	case "=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

// matchObject: every key of the pattern must match the document.
func matchObject(p map[string]any, doc any) bool {
	d, _ := doc.(map[string]any)
	for k, v := range p {
		if k == "$or" {
			ok := false
			for _, a := range v.([]any) {
				if matchObject(a.(map[string]any), doc) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
			continue
		}
		val, present := d[k]
		switch x := v.(type) {
		case map[string]any:
			if !present || !matchObject(x, val) {
				return false
			}
		case []any:
			if !matchField(x, val, present) {
				return false
			}
		}
	}
	return true
}

// matchField: any condition matches the value (or, for an array value, any
// of its elements).
func matchField(conds []any, val any, present bool) bool {
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			if e, ok := m["exists"].(bool); ok {
				if e == present {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		if arr, ok := val.([]any); ok {
			for _, el := range arr {
				if matchCond(c, el) {
					return true
				}
			}
			continue
		}
		if matchCond(c, val) {
			return true
		}
	}
	return false
}

func matchCond(c, val any) bool {
	switch x := c.(type) {
	case nil:
		return val == nil
	case string:
		s, ok := val.(string)
		return ok && s == x
	case float64:
		n, ok := val.(float64)
		return ok && n == x
	case bool:
		b, ok := val.(bool)
		return ok && b == x
	case map[string]any:
		for op, arg := range x {
			return matchOp(op, arg, val)
		}
	}
	return false
}

func matchOp(op string, arg, val any) bool {
	s, isStr := val.(string)
	switch op {
	case "prefix", "suffix":
		if !isStr {
			return false
		}
		want, fold := arg.(string), false
		if m, ok := arg.(map[string]any); ok {
			want, fold = m["equals-ignore-case"].(string), true
		}
		if fold {
			s, want = strings.ToLower(s), strings.ToLower(want)
		}
		if op == "prefix" {
			return strings.HasPrefix(s, want)
		}
		return strings.HasSuffix(s, want)
	case "equals-ignore-case":
		return isStr && strings.EqualFold(s, arg.(string))
	case "anything-but":
		switch a := arg.(type) {
		case []any:
			for _, x := range a {
				if matchCond(x, val) {
					return false
				}
			}
			return val != nil
		case map[string]any:
			if !isStr {
				return false
			}
			for k, v := range a {
				return !matchOp(k, v, val)
			}
		default:
			return val != nil && !matchCond(a, val)
		}
	case "numeric":
		n, ok := val.(float64)
		if !ok {
			return false
		}
		a := arg.([]any)
		for i := 0; i < len(a); i += 2 {
			ref := a[i+1].(float64)
			var good bool
			switch a[i].(string) {
			case "=":
				good = n == ref
			case "<":
				good = n < ref
			case "<=":
				good = n <= ref
			case ">":
				good = n > ref
			case ">=":
				good = n >= ref
			}
			if !good {
				return false
			}
		}
		return true
	}
	return false
}
