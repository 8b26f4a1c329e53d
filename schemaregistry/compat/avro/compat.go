package avro

import (
	"fmt"
	"strconv"
	"strings"
)

// The kinds of incompatibility, named as Avro's Java SchemaCompatibility
// (and so Confluent's verbose messages) name them.
const (
	NameMismatch                   = "NAME_MISMATCH"
	FixedSizeMismatch              = "FIXED_SIZE_MISMATCH"
	MissingEnumSymbols             = "MISSING_ENUM_SYMBOLS"
	ReaderFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
	TypeMismatch                   = "TYPE_MISMATCH"
	MissingUnionBranch             = "MISSING_UNION_BRANCH"
)

// Problem is one reason a reader cannot read a writer's data.
type Problem struct {
	Type string
	// Path locates the problem in the reader schema, JSON-pointer style
	// ("/fields/1/type/items").
	Path        string
	Description string
}

func (p Problem) String() string {
	return fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'path %s'}", p.Type, p.Description, p.Path)
}

// CanRead lists why reader cannot read data written with writer under the
// specification's schema resolution rules; nil means it can.
func CanRead(reader, writer *Schema) []Problem {
	c := &checker{seen: map[[2]*Schema]bool{}, memo: map[[2]*Schema]bool{}}
	c.check(reader, writer, "")
	return c.probs
}

// CheckStrings is CanRead with problems rendered, for compat.Check.
func CheckStrings(reader, writer *Schema) []string {
	var out []string
	for _, p := range CanRead(reader, writer) {
		out = append(out, p.String())
	}
	return out
}

type checker struct {
	// seen holds pairs being or already checked: recursive types meet
	// themselves, and a pair in progress is assumed readable.
	seen map[[2]*Schema]bool
	// memo holds the verdicts of quiet checks: union matching asks the same
	// pair again and again, exponentially in nesting depth without it.
	memo  map[[2]*Schema]bool
	probs []Problem
}

func (c *checker) add(typ, path, format string, args ...any) {
	if path == "" {
		path = "/"
	}
	c.probs = append(c.probs, Problem{Type: typ, Path: path, Description: fmt.Sprintf(format, args...)})
}

func describe(s *Schema) string {
	if s.Name != "" {
		return s.Kind.String() + " " + s.Name
	}
	return s.Kind.String()
}

// promotable reports whether a reader of kind r reads a writer's kind w.
func promotable(r, w Kind) bool {
	if r == w {
		return true
	}
	switch w {
	case Int:
		return r == Long || r == Float || r == Double
	case Long:
		return r == Float || r == Double
	case Float:
		return r == Double
	case String:
		return r == Bytes
	case Bytes:
		return r == String
	}
	return false
}

// nameMatches follows Java's SchemaCompatibility: unqualified names equal, or
// the writer's full name among the reader's aliases.
func nameMatches(r, w *Schema) bool {
	if short(r.Name) == short(w.Name) {
		return true
	}
	for _, a := range r.Aliases {
		if a == w.Name {
			return true
		}
	}
	return false
}

func short(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// quiet reports whether reader reads writer, without recording problems.
func (c *checker) quiet(r, w *Schema) bool {
	key := [2]*Schema{r, w}
	if v, ok := c.memo[key]; ok {
		return v
	}
	sub := &checker{seen: make(map[[2]*Schema]bool, len(c.seen)), memo: c.memo}
	for k, v := range c.seen {
		sub.seen[k] = v
	}
	sub.check(r, w, "")
	ok := len(sub.probs) == 0
	c.memo[key] = ok
	return ok
}

func (c *checker) check(r, w *Schema, path string) {
	key := [2]*Schema{r, w}
	if c.seen[key] {
		return
	}
	if r.Name != "" || w.Name != "" {
		c.seen[key] = true
	}
	if w.Kind == Union {
		// Every branch the writer may have written must be readable.
		for i, b := range w.Types {
			if r.Kind == Union {
				if !c.unionHas(r, b) {
					c.add(MissingUnionBranch, path, "reader union lacks a branch for the writer's branch %d (%s)", i, describe(b))
				}
				continue
			}
			before := len(c.probs)
			c.check(r, b, path)
			if len(c.probs) > before {
				return
			}
		}
		return
	}
	if r.Kind == Union {
		if !c.unionHas(r, w) {
			c.add(MissingUnionBranch, path, "reader union has no branch that reads the writer's %s", describe(w))
		}
		return
	}
	if !promotable(r.Kind, w.Kind) {
		c.add(TypeMismatch, path, "reader type %s cannot read writer type %s", describe(r), describe(w))
		return
	}
	switch r.Kind {
	case Record:
		if !nameMatches(r, w) {
			c.add(NameMismatch, path+"/name", "expected record %s, found %s", w.Name, r.Name)
			return
		}
		for i, rf := range r.Fields {
			fpath := path + "/fields/" + strconv.Itoa(i)
			wf := writerField(w, rf)
			if wf == nil {
				if !rf.HasDefault() {
					c.add(ReaderFieldMissingDefaultValue, fpath, "field %q is missing in the writer's record and has no default value", rf.Name)
				}
				continue
			}
			c.check(rf.Type, wf.Type, fpath+"/type")
		}
	case Enum:
		if !nameMatches(r, w) {
			c.add(NameMismatch, path+"/name", "expected enum %s, found %s", w.Name, r.Name)
			return
		}
		if r.Default != nil {
			return
		}
		have := map[string]bool{}
		for _, s := range r.Symbols {
			have[s] = true
		}
		var missing []string
		for _, s := range w.Symbols {
			if !have[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			c.add(MissingEnumSymbols, path+"/symbols", "reader enum %s lacks symbols [%s] and has no default", r.Name, strings.Join(missing, ", "))
		}
	case Fixed:
		if !nameMatches(r, w) {
			c.add(NameMismatch, path+"/name", "expected fixed %s, found %s", w.Name, r.Name)
			return
		}
		if r.Size != w.Size {
			c.add(FixedSizeMismatch, path+"/size", "expected fixed size %d, found %d", w.Size, r.Size)
		}
	case Array:
		c.check(r.Items, w.Items, path+"/items")
	case Map:
		c.check(r.Values, w.Values, path+"/values")
	}
}

// unionHas reports whether some branch of the reader union reads w. Like
// Avro's resolution, an exact match of kind and name is preferred, then the
// first branch that reads it at all.
func (c *checker) unionHas(r, w *Schema) bool {
	for _, b := range r.Types {
		if b.Kind == w.Kind && (b.Name == "" || nameMatches(b, w)) && c.quiet(b, w) {
			return true
		}
	}
	for _, b := range r.Types {
		if c.quiet(b, w) {
			return true
		}
	}
	return false
}

// writerField finds the writer's field for a reader field, by name or by one
// of the reader field's aliases.
func writerField(w *Schema, rf *Field) *Field {
	for _, f := range w.Fields {
		if f.Name == rf.Name {
			return f
		}
	}
	for _, a := range rf.Aliases {
		for _, f := range w.Fields {
			if f.Name == a {
				return f
			}
		}
	}
	return nil
}
