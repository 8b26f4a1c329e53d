// Package jsonschema checks JSON Schema compatibility for the common
// changes: a reader schema can read a writer's data when every document the
// writer's schema accepts, the reader's accepts too. It covers types and
// their widening (integer to number), enum and const, string and number
// bounds, object properties under open and closed content models, required
// properties, array items and combinators compared branch by branch. It is a
// pure core over decoded JSON documents.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Decode parses a JSON document keeping numbers exact, as the JSON Schema
// compiler wants them.
func Decode(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the schema")
	}
	switch v.(type) {
	case map[string]any, bool:
		return v, nil
	}
	return nil, fmt.Errorf("a JSON schema is an object or a boolean")
}

// CanRead lists why reader does not accept every document writer accepts;
// nil means it does.
func CanRead(reader, writer any) []string {
	c := &checker{}
	c.check(reader, writer, "#", 0)
	return c.probs
}

type checker struct{ probs []string }

func (c *checker) add(typ, path, format string, args ...any) {
	c.probs = append(c.probs, fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'path %s'}", typ, fmt.Sprintf(format, args...), path))
}

func isTrue(s any) bool {
	switch v := s.(type) {
	case bool:
		return v
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func isFalse(s any) bool { b, ok := s.(bool); return ok && !b }

func types(m map[string]any) map[string]bool {
	out := map[string]bool{}
	switch t := m["type"].(type) {
	case string:
		out[t] = true
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
	}
	return out
}

func num(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func (c *checker) check(r, w any, path string, depth int) {
	if depth > 64 || isTrue(r) {
		return
	}
	if isFalse(w) {
		return
	}
	if isFalse(r) {
		c.add("TYPE_NARROWED", path, "the reader accepts nothing")
		return
	}
	rm, _ := r.(map[string]any)
	wm, ok := w.(map[string]any)
	if !ok {
		wm = map[string]any{} // writer true: accepts anything
	}
	if rr, ok := rm["$ref"]; ok {
		if !reflect.DeepEqual(rr, wm["$ref"]) {
			c.add("REFERENCE_CHANGED", path, "$ref %v differs from %v", rr, wm["$ref"])
		}
		return
	}
	rt, wt := types(rm), types(wm)
	if len(rt) > 0 {
		if len(wt) == 0 {
			c.add("TYPE_NARROWED", path, "the reader requires type %v where the writer allowed any", keys(rt))
		}
		for t := range wt {
			if !rt[t] && !(t == "integer" && rt["number"]) {
				c.add("TYPE_CHANGED", path, "the writer's type %s is not accepted by the reader (%v)", t, keys(rt))
			}
		}
	}
	c.enum(rm, wm, path)
	c.bounds(rm, wm, path)
	c.object(rm, wm, path, depth)
	if ri, ok := rm["items"]; ok {
		wi, ok := wm["items"]
		if !ok {
			wi = true
		}
		c.check(ri, wi, path+"/items", depth+1)
	}
	for _, kw := range []string{"oneOf", "anyOf", "allOf"} {
		rv, rok := rm[kw].([]any)
		wv, wok := wm[kw].([]any)
		switch {
		case !rok && !wok:
		case rok && wok && len(rv) == len(wv):
			for i := range rv {
				c.check(rv[i], wv[i], fmt.Sprintf("%s/%s/%d", path, kw, i), depth+1)
			}
		case rok && wok && kw != "allOf" && len(rv) > len(wv):
			// A wider oneOf/anyOf: each writer branch must be read by the
			// reader's branch at the same place.
			for i := range wv {
				c.check(rv[i], wv[i], fmt.Sprintf("%s/%s/%d", path, kw, i), depth+1)
			}
		default:
			if !reflect.DeepEqual(rv, wv) {
				c.add("COMBINED_TYPE_CHANGED", path+"/"+kw, "%s changed", kw)
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func canon(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}

func (c *checker) enum(rm, wm map[string]any, path string) {
	if rc, ok := rm["const"]; ok {
		if wc, ok := wm["const"]; !ok || canon(wc) != canon(rc) {
			c.add("ENUM_ARRAY_NARROWED", path+"/const", "the reader only accepts %s", canon(rc))
		}
	}
	re, ok := rm["enum"].([]any)
	if !ok {
		return
	}
	we, ok := wm["enum"].([]any)
	if !ok {
		c.add("ENUM_ARRAY_NARROWED", path+"/enum", "the reader restricts values to an enum the writer did not have")
		return
	}
	have := map[string]bool{}
	for _, v := range re {
		have[canon(v)] = true
	}
	for _, v := range we {
		if !have[canon(v)] {
			c.add("ENUM_ARRAY_NARROWED", path+"/enum", "the reader's enum lacks %s", canon(v))
		}
	}
}

// bounds: a reader's lower bounds may not rise, its upper bounds may not
// fall, and a pattern may not appear or change.
func (c *checker) bounds(rm, wm map[string]any, path string) {
	for _, kw := range []string{"maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties"} {
		if rv, ok := num(rm[kw]); ok {
			if wv, ok := num(wm[kw]); !ok || wv > rv {
				c.add(strings.ToUpper(kw)+"_DECREASED", path+"/"+kw, "%s is %v in the reader", kw, rv)
			}
		}
	}
	for _, kw := range []string{"minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties"} {
		if rv, ok := num(rm[kw]); ok {
			if wv, ok := num(wm[kw]); !ok || wv < rv {
				c.add(strings.ToUpper(kw)+"_INCREASED", path+"/"+kw, "%s is %v in the reader", kw, rv)
			}
		}
	}
	if rp, ok := rm["pattern"]; ok && !reflect.DeepEqual(rp, wm["pattern"]) {
		c.add("PATTERN_CHANGED", path+"/pattern", "the reader's pattern %v differs from %v", rp, wm["pattern"])
	}
}

func (c *checker) object(rm, wm map[string]any, path string, depth int) {
	rp, _ := rm["properties"].(map[string]any)
	wp, _ := wm["properties"].(map[string]any)
	wAdd, wHas := wm["additionalProperties"]
	if !wHas {
		wAdd = true
	}
	rAdd, rHas := rm["additionalProperties"]
	if !rHas {
		rAdd = true
	}
	for _, name := range sortedKeys(rp) {
		p := path + "/properties/" + name
		if ws, ok := wp[name]; ok {
			c.check(rp[name], ws, p, depth+1)
			continue
		}
		if isFalse(wAdd) {
			continue // the writer never wrote it
		}
		before := len(c.probs)
		c.check(rp[name], wAdd, p, depth+1)
		if len(c.probs) > before {
			c.probs = append(c.probs[:before], fmt.Sprintf("{errorType:'PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL', description:'property %q added while the writer allowed any additional property', additionalInfo:'path %s'}", name, p))
		}
	}
	for _, name := range sortedKeys(wp) {
		if _, ok := rp[name]; ok {
			continue
		}
		p := path + "/properties/" + name
		if isFalse(rAdd) {
			c.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "property %q removed while the reader allows no additional property", name)
			continue
		}
		c.check(rAdd, wp[name], p, depth+1)
	}
	if rHas && !isTrue(rAdd) && !isFalse(wAdd) {
		c.check(rAdd, wAdd, path+"/additionalProperties", depth+1)
	}
	wreq := map[string]bool{}
	if l, ok := wm["required"].([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				wreq[s] = true
			}
		}
	}
	if l, ok := rm["required"].([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok && !wreq[s] {
				c.add("REQUIRED_PROPERTY_ADDED", path+"/required", "property %q is required by the reader but not by the writer", s)
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
