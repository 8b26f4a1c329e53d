package format

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"

	pbcompat "github.com/sluicehq/sluice/schemaregistry/compat/protobuf"
)

type protobufFormat struct{}

type protobufParsed struct {
	text string
	fd   protoreflect.FileDescriptor
}

// mainFile names the schema being parsed among its references, which are
// named by their import paths.
const mainFile = "sluice/registered-schema.proto"

func (protobufFormat) Parse(text string, refs []Ref) (Parsed, error) {
	srcs := map[string]string{mainFile: text}
	if err := addProtoRefs(srcs, refs, 0); err != nil {
		return nil, err
	}
	c := protocompile.Compiler{
		// Well-known imports (google/protobuf/*.proto) come built in, as in
		// Confluent's registry; anything else only from the references.
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(srcs)}),
	}
	files, err := c.Compile(context.Background(), mainFile)
	if err != nil {
		return nil, fmt.Errorf("invalid Protobuf schema: %v", strings.ReplaceAll(err.Error(), mainFile+":", "line "))
	}
	return protobufParsed{text: strings.TrimSpace(text), fd: files[0]}, nil
}

func addProtoRefs(srcs map[string]string, refs []Ref, depth int) error {
	if depth > 50 {
		return errors.New("invalid Protobuf schema: references nested too deeply")
	}
	for _, r := range refs {
		if _, done := srcs[r.Name]; done {
			continue
		}
		srcs[r.Name] = r.Schema
		if err := addProtoRefs(srcs, r.Refs, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// Text is the schema as written, trimmed: unlike Confluent's registry this
// one does not re-print .proto files.
func (p protobufParsed) Text() string       { return p.text }
func (p protobufParsed) Normalized() string { return p.text }

func (p protobufParsed) CanRead(writer Parsed) []string {
	w, ok := writer.(protobufParsed)
	if !ok {
		return []string{"{errorType:'TYPE_CHANGED', description:'the other schema is not Protobuf'}"}
	}
	return pbcompat.CanRead(p.fd, w.fd)
}
