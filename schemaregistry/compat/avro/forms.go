package avro

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Canonical renders the Avro specification's Parsing Canonical Form: full
// names, only the attributes that matter to reading, in the spec's order, no
// whitespace. Two schemas with the same form read and write the same bytes.
func Canonical(s *Schema) string {
	var b bytes.Buffer
	writePCF(&b, s, map[string]bool{})
	return b.String()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

func writePCF(b *bytes.Buffer, s *Schema, done map[string]bool) {
	switch s.Kind {
	case Record, Enum, Fixed:
		if done[s.Name] {
			writeJSONString(b, s.Name)
			return
		}
		done[s.Name] = true
		b.WriteString(`{"name":`)
		writeJSONString(b, s.Name)
		b.WriteString(`,"type":`)
		switch s.Kind {
		case Record:
			b.WriteString(`"record","fields":[`)
			for i, f := range s.Fields {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"name":`)
				writeJSONString(b, f.Name)
				b.WriteString(`,"type":`)
				writePCF(b, f.Type, done)
				b.WriteByte('}')
			}
			b.WriteByte(']')
		case Enum:
			b.WriteString(`"enum","symbols":[`)
			for i, sym := range s.Symbols {
				if i > 0 {
					b.WriteByte(',')
				}
				writeJSONString(b, sym)
			}
			b.WriteByte(']')
		case Fixed:
			b.WriteString(`"fixed","size":`)
			b.WriteString(strconv.Itoa(s.Size))
		}
		b.WriteByte('}')
	case Array:
		b.WriteString(`{"type":"array","items":`)
		writePCF(b, s.Items, done)
		b.WriteByte('}')
	case Map:
		b.WriteString(`{"type":"map","values":`)
		writePCF(b, s.Values, done)
		b.WriteByte('}')
	case Union:
		b.WriteByte('[')
		for i, t := range s.Types {
			if i > 0 {
				b.WriteByte(',')
			}
			writePCF(b, t, done)
		}
		b.WriteByte(']')
	default:
		writeJSONString(b, s.Kind.String())
	}
}

// Text renders the schema as the registry stores and returns it, the way
// Avro's Java Schema.toString does (and so Confluent's registry): compact JSON
// keeping docs, defaults, aliases and custom properties, a primitive without
// properties as a bare string ("string"), and namespaces written only where
// they change.
func Text(s *Schema) string {
	var b bytes.Buffer
	w := &writer{b: &b, done: map[string]bool{}}
	w.schema(s, "")
	return b.String()
}

// Normalized is Text with every name fully qualified and no namespace
// attributes, so that schemas differing only in how names are spelled
// compare equal (the registry's normalize=true).
func Normalized(s *Schema) string {
	var b bytes.Buffer
	w := &writer{b: &b, done: map[string]bool{}, full: true}
	w.schema(s, "")
	return b.String()
}

type writer struct {
	b    *bytes.Buffer
	done map[string]bool
	full bool
}

func (w *writer) key(k string) {
	writeJSONString(w.b, k)
	w.b.WriteByte(':')
}

func (w *writer) raw(v json.RawMessage) {
	var c bytes.Buffer
	if json.Compact(&c, v) != nil {
		w.b.Write(v)
		return
	}
	w.b.Write(c.Bytes())
}

func (w *writer) props(ps []Prop) {
	for _, p := range ps {
		w.b.WriteByte(',')
		w.key(p.Key)
		w.raw(p.Value)
	}
}

// name writes a reference or declaration name relative to ns.
func (w *writer) nameRel(full, ns string) string {
	if w.full {
		return full
	}
	if namespaceOf(full) == ns {
		if i := len(ns); i > 0 {
			return full[i+1:]
		}
	}
	return full
}

func (w *writer) strings(ss []string) {
	w.b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			w.b.WriteByte(',')
		}
		writeJSONString(w.b, s)
	}
	w.b.WriteByte(']')
}

func (w *writer) schema(s *Schema, ns string) {
	b := w.b
	switch s.Kind {
	case Record, Enum, Fixed:
		if w.done[s.Name] {
			writeJSONString(b, w.nameRel(s.Name, ns))
			return
		}
		w.done[s.Name] = true
		own := namespaceOf(s.Name)
		typ := map[Kind]string{Record: "record", Enum: "enum", Fixed: "fixed"}[s.Kind]
		if s.IsError {
			typ = "error"
		}
		b.WriteString(`{"type":`)
		writeJSONString(b, typ)
		b.WriteString(`,"name":`)
		if w.full {
			writeJSONString(b, s.Name)
		} else {
			short := s.Name
			if own != "" {
				short = s.Name[len(own)+1:]
			}
			writeJSONString(b, short)
			if own != ns {
				b.WriteString(`,"namespace":`)
				writeJSONString(b, own)
			}
		}
		if s.Doc != "" {
			b.WriteString(`,"doc":`)
			writeJSONString(b, s.Doc)
		}
		switch s.Kind {
		case Record:
			b.WriteString(`,"fields":[`)
			for i, f := range s.Fields {
				if i > 0 {
					b.WriteByte(',')
				}
				w.field(f, own)
			}
			b.WriteByte(']')
		case Enum:
			b.WriteString(`,"symbols":`)
			w.strings(s.Symbols)
			if s.Default != nil {
				b.WriteString(`,"default":`)
				writeJSONString(b, *s.Default)
			}
		case Fixed:
			b.WriteString(`,"size":`)
			b.WriteString(strconv.Itoa(s.Size))
		}
		if len(s.Aliases) > 0 {
			b.WriteString(`,"aliases":`)
			al := make([]string, len(s.Aliases))
			for i, a := range s.Aliases {
				al[i] = w.nameRel(a, own)
			}
			w.strings(al)
		}
		w.props(s.Props)
		b.WriteByte('}')
	case Array:
		b.WriteString(`{"type":"array","items":`)
		w.schema(s.Items, ns)
		w.props(s.Props)
		b.WriteByte('}')
	case Map:
		b.WriteString(`{"type":"map","values":`)
		w.schema(s.Values, ns)
		w.props(s.Props)
		b.WriteByte('}')
	case Union:
		b.WriteByte('[')
		for i, t := range s.Types {
			if i > 0 {
				b.WriteByte(',')
			}
			w.schema(t, ns)
		}
		b.WriteByte(']')
	default:
		if len(s.Props) == 0 {
			writeJSONString(b, s.Kind.String())
			return
		}
		b.WriteString(`{"type":`)
		writeJSONString(b, s.Kind.String())
		w.props(s.Props)
		b.WriteByte('}')
	}
}

func (w *writer) field(f *Field, ns string) {
	b := w.b
	b.WriteString(`{"name":`)
	writeJSONString(b, f.Name)
	b.WriteString(`,"type":`)
	w.schema(f.Type, ns)
	if f.Doc != "" {
		b.WriteString(`,"doc":`)
		writeJSONString(b, f.Doc)
	}
	if f.defaultSet {
		b.WriteString(`,"default":`)
		w.raw(f.Default)
	}
	if f.Order != "" && f.Order != "ascending" {
		b.WriteString(`,"order":`)
		writeJSONString(b, f.Order)
	}
	if len(f.Aliases) > 0 {
		b.WriteString(`,"aliases":`)
		w.strings(f.Aliases)
	}
	w.props(f.Props)
	b.WriteByte('}')
}
