// Package protobuf checks Protobuf schema compatibility for the common
// changes, the way Confluent's registry compares two .proto files: the
// differences from the writer's file to the reader's are listed, and the
// ones that break reading (a message or enum removed, a field's type or
// kind changed outside its wire-compatible group, a required field added
// or removed, fields moved into a oneof, the package or syntax changed) are
// reported with their path. It is a pure core over compiled descriptors.
package protobuf

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// CanRead lists why a reader compiled from reader cannot read messages
// written with writer; nil means it can.
func CanRead(reader, writer protoreflect.FileDescriptor) []string {
	c := &checker{}
	if reader.Package() != writer.Package() {
		c.add("PACKAGE_CHANGED", "#/package", "package %q became %q", writer.Package(), reader.Package())
	}
	if reader.Syntax() != writer.Syntax() {
		c.add("SYNTAX_VERSION_CHANGED", "#/syntax", "syntax %s became %s", writer.Syntax(), reader.Syntax())
	}
	rm := messages(reader.Messages(), map[protoreflect.FullName]protoreflect.MessageDescriptor{})
	wm := messages(writer.Messages(), map[protoreflect.FullName]protoreflect.MessageDescriptor{})
	for _, name := range sortedNames(wm) {
		r, ok := rm[name]
		if !ok {
			c.add("MESSAGE_REMOVED", "#/"+string(name), "message %s was removed", name)
			continue
		}
		c.message(r, wm[name])
	}
	re := enums(reader, rm)
	we := enums(writer, wm)
	for _, name := range sortedEnumNames(we) {
		r, ok := re[name]
		if !ok {
			c.add("ENUM_REMOVED", "#/"+string(name), "enum %s was removed", name)
			continue
		}
		w := we[name]
		for i := 0; i < w.Values().Len(); i++ {
			wv := w.Values().Get(i)
			if rv := r.Values().ByNumber(wv.Number()); rv != nil && rv.Name() != wv.Name() {
				c.add("ENUM_CONST_CHANGED", "#/"+string(name)+"/"+string(wv.Name()), "enum value %d is %s, was %s", wv.Number(), rv.Name(), wv.Name())
			}
		}
	}
	return c.probs
}

type checker struct{ probs []string }

func (c *checker) add(typ, path, format string, args ...any) {
	c.probs = append(c.probs, fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'path %s'}", typ, fmt.Sprintf(format, args...), path))
}

func messages(ms protoreflect.MessageDescriptors, out map[protoreflect.FullName]protoreflect.MessageDescriptor) map[protoreflect.FullName]protoreflect.MessageDescriptor {
	for i := 0; i < ms.Len(); i++ {
		m := ms.Get(i)
		if m.IsMapEntry() {
			continue
		}
		out[m.FullName()] = m
		messages(m.Messages(), out)
	}
	return out
}

func enums(f protoreflect.FileDescriptor, ms map[protoreflect.FullName]protoreflect.MessageDescriptor) map[protoreflect.FullName]protoreflect.EnumDescriptor {
	out := map[protoreflect.FullName]protoreflect.EnumDescriptor{}
	add := func(es protoreflect.EnumDescriptors) {
		for i := 0; i < es.Len(); i++ {
			out[es.Get(i).FullName()] = es.Get(i)
		}
	}
	add(f.Enums())
	for _, m := range ms {
		add(m.Enums())
	}
	return out
}

func sortedNames(m map[protoreflect.FullName]protoreflect.MessageDescriptor) []protoreflect.FullName {
	out := make([]protoreflect.FullName, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sortedEnumNames(m map[protoreflect.FullName]protoreflect.EnumDescriptor) []protoreflect.FullName {
	out := make([]protoreflect.FullName, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// wireGroup puts scalar kinds that share an encoding, and so read each
// other's bytes, in one group.
func wireGroup(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.BoolKind:
		return 1
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return 2
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return 3
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return 4
	case protoreflect.StringKind, protoreflect.BytesKind:
		return 5
	case protoreflect.FloatKind:
		return 6
	case protoreflect.DoubleKind:
		return 7
	case protoreflect.EnumKind:
		return 8
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return 9
	}
	return 0
}

func (c *checker) message(r, w protoreflect.MessageDescriptor) {
	base := "#/" + string(w.FullName())
	// Fields by number: names may change, numbers are the wire.
	for i := 0; i < w.Fields().Len(); i++ {
		wf := w.Fields().Get(i)
		path := fmt.Sprintf("%s/%d", base, wf.Number())
		rf := r.Fields().ByNumber(wf.Number())
		if rf == nil {
			if wf.Cardinality() == protoreflect.Required {
				c.add("REQUIRED_FIELD_REMOVED", path, "required field %s was removed", wf.Name())
			}
			continue
		}
		c.field(rf, wf, path)
	}
	for i := 0; i < r.Fields().Len(); i++ {
		rf := r.Fields().Get(i)
		if w.Fields().ByNumber(rf.Number()) == nil && rf.Cardinality() == protoreflect.Required {
			c.add("REQUIRED_FIELD_ADDED", fmt.Sprintf("%s/%d", base, rf.Number()), "required field %s was added", rf.Name())
		}
	}
	// Oneofs: writer fields moving into a reader oneof.
	for i := 0; i < r.Oneofs().Len(); i++ {
		ro := r.Oneofs().Get(i)
		if ro.IsSynthetic() {
			continue
		}
		moved := 0
		existing := w.Oneofs().ByName(ro.Name())
		for j := 0; j < ro.Fields().Len(); j++ {
			wf := w.Fields().ByNumber(ro.Fields().Get(j).Number())
			if wf == nil {
				continue
			}
			if wo := wf.ContainingOneof(); wo == nil || wo.IsSynthetic() {
				moved++
				if existing != nil {
					c.add("FIELD_MOVED_TO_EXISTING_ONEOF", fmt.Sprintf("%s/%d", base, wf.Number()), "field %s moved into the existing oneof %s", wf.Name(), ro.Name())
				}
			}
		}
		if existing == nil && moved > 1 {
			c.add("MULTIPLE_FIELDS_MOVED_TO_ONEOF", base+"/"+string(ro.Name()), "%d fields moved into the new oneof %s", moved, ro.Name())
		}
	}
}

func (c *checker) field(r, w protoreflect.FieldDescriptor, path string) {
	if (r.Cardinality() == protoreflect.Repeated) != (w.Cardinality() == protoreflect.Repeated) && !(r.IsMap() || w.IsMap()) {
		// Packed scalars and singular scalars are not interchangeable.
		c.add("FIELD_LABEL_CHANGED", path, "field %s changed between repeated and singular", w.Name())
		return
	}
	if r.IsMap() != w.IsMap() {
		c.add("FIELD_KIND_CHANGED", path, "field %s changed between map and non-map", w.Name())
		return
	}
	if r.IsMap() {
		c.field(r.MapKey(), w.MapKey(), path+"/key")
		c.field(r.MapValue(), w.MapValue(), path+"/value")
		return
	}
	rg, wg := wireGroup(r.Kind()), wireGroup(w.Kind())
	switch {
	case rg != wg:
		c.add("FIELD_KIND_CHANGED", path, "field %s changed from %s to %s", w.Name(), w.Kind(), r.Kind())
	case w.Kind() == protoreflect.MessageKind || w.Kind() == protoreflect.GroupKind:
		if r.Message().FullName() != w.Message().FullName() {
			c.add("FIELD_NAMED_TYPE_CHANGED", path, "field %s changed from %s to %s", w.Name(), w.Message().FullName(), r.Message().FullName())
		}
	case w.Kind() == protoreflect.EnumKind:
		if r.Enum().FullName() != w.Enum().FullName() {
			c.add("FIELD_NAMED_TYPE_CHANGED", path, "field %s changed from %s to %s", w.Name(), w.Enum().FullName(), r.Enum().FullName())
		}
	}
}
