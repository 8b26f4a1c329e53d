// Package format gives the registry one view of every schema format it
// understands (AVRO, JSON, PROTOBUF): parse with references, the stored and
// normalized text, and compatibility checks. A schema of a type without a
// Format here, read from a topic another registry wrote, is stored and
// served as written but cannot be registered.
package format

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/schemaregistry/compat"
)

// Names of the schema types, as the REST API spells them.
const (
	Avro     = "AVRO"
	JSON     = "JSON"
	Protobuf = "PROTOBUF"
)

// Ref is a resolved schema reference: the referenced schema's text and,
// recursively, its own references.
type Ref struct {
	Name    string
	Subject string
	Version int
	Type    string
	Schema  string
	Refs    []Ref
}

// Parsed is a schema that parsed and validated.
type Parsed interface {
	// Text is the form the registry stores and returns (for Avro, the form
	// Avro's Java Schema.toString gives; for JSON, compact JSON).
	Text() string
	// Normalized is the form stored under normalize=true.
	Normalized() string
	// CanRead lists why this schema, as reader, cannot read data written
	// with writer (a Parsed of the same format); nil means it can.
	CanRead(writer Parsed) []string
}

// Format parses one schema type.
type Format interface {
	Parse(text string, refs []Ref) (Parsed, error)
}

// ErrUnsupported is returned for schema types without a Format.
var ErrUnsupported = errors.New("unsupported schema type")

var formats = map[string]Format{Avro: avroFormat{}, JSON: jsonFormat{}, Protobuf: protobufFormat{}}

// Types lists the registrable schema types.
func Types() []string { return []string{JSON, Protobuf, Avro} }

// Normalize maps the REST API's schemaType ("" means AVRO) to its name.
func Normalize(schemaType string) string {
	if schemaType == "" {
		return Avro
	}
	return schemaType
}

// Parse parses text as schemaType.
func Parse(schemaType, text string, refs []Ref) (Parsed, error) {
	f, ok := formats[Normalize(schemaType)]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnsupported, schemaType)
	}
	return f.Parse(text, refs)
}

// Check applies a compatibility level to next against earlier versions,
// oldest first; label names the version of earlier[i] in messages.
func Check(level compat.Level, next Parsed, earlier []Parsed, label func(i int) string) []string {
	return compat.Check(level, func(r, w Parsed) []string { return r.CanRead(w) }, next, earlier, label)
}
