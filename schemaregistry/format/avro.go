package format

import (
	"fmt"

	"github.com/sluicehq/sluice/schemaregistry/compat/avro"
)

type avroFormat struct{}

type avroParsed struct{ s *avro.Schema }

func (avroFormat) Parse(text string, refs []Ref) (Parsed, error) {
	names := avro.Names{}
	if err := loadAvroRefs(names, refs, map[string]bool{}, 0); err != nil {
		return nil, err
	}
	s, err := avro.Parse(text, names)
	if err != nil {
		return nil, err
	}
	return avroParsed{s}, nil
}

// loadAvroRefs parses referenced schemas depth first so their named types are
// defined before the schemas that use them; a schema reached twice is parsed
// once.
func loadAvroRefs(names avro.Names, refs []Ref, done map[string]bool, depth int) error {
	if depth > 50 {
		return fmt.Errorf("%w: references nested too deeply", avro.ErrInvalid)
	}
	for _, r := range refs {
		key := fmt.Sprintf("%s\x00%d", r.Subject, r.Version)
		if done[key] {
			continue
		}
		done[key] = true
		if Normalize(r.Type) != Avro {
			return fmt.Errorf("%w: reference %s is a %s schema", avro.ErrInvalid, r.Name, r.Type)
		}
		if err := loadAvroRefs(names, r.Refs, done, depth+1); err != nil {
			return err
		}
		if _, err := avro.Parse(r.Schema, names); err != nil {
			return fmt.Errorf("reference %s (%s version %d): %w", r.Name, r.Subject, r.Version, err)
		}
	}
	return nil
}

func (p avroParsed) Text() string       { return avro.Text(p.s) }
func (p avroParsed) Normalized() string { return avro.Normalized(p.s) }

func (p avroParsed) CanRead(writer Parsed) []string {
	w, ok := writer.(avroParsed)
	if !ok {
		return []string{"{errorType:'TYPE_MISMATCH', description:'the other schema is not Avro'}"}
	}
	return avro.CheckStrings(p.s, w.s)
}

// AvroSchema returns the parsed Avro model of p, for callers that need it
// (the serde); ok is false for other formats.
func AvroSchema(p Parsed) (s *avro.Schema, ok bool) {
	a, ok := p.(avroParsed)
	return a.s, ok
}
