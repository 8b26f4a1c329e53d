package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"

	jscompat "github.com/sluicehq/sluice/schemaregistry/compat/jsonschema"
)

type jsonFormat struct{}

type jsonParsed struct {
	text string
	doc  any
}

// noLoader refuses to fetch anything: a schema may only use what its
// references supply, never the network or the disk.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not a reference of this schema", url)
}

const rootURL = "sluice:///schema.json"

func (jsonFormat) Parse(text string, refs []Ref) (Parsed, error) {
	doc, err := jscompat.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	c := jsonschemaCompiler()
	if err := addJSONRefs(c, refs, map[string]bool{}, 0); err != nil {
		return nil, err
	}
	if err := c.AddResource(rootURL, doc); err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	if _, err := c.Compile(rootURL); err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(strings.TrimSpace(text))); err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	return jsonParsed{text: b.String(), doc: doc}, nil
}

func jsonschemaCompiler() *sjs.Compiler {
	c := sjs.NewCompiler()
	c.UseLoader(noLoader{})
	return c
}

func addJSONRefs(c *sjs.Compiler, refs []Ref, done map[string]bool, depth int) error {
	if depth > 50 {
		return errors.New("invalid JSON schema: references nested too deeply")
	}
	for _, r := range refs {
		if done[r.Name] {
			continue
		}
		done[r.Name] = true
		if err := addJSONRefs(c, r.Refs, done, depth+1); err != nil {
			return err
		}
		doc, err := jscompat.Decode(r.Schema)
		if err != nil {
			return fmt.Errorf("invalid JSON schema: reference %s: %v", r.Name, err)
		}
		if err := c.AddResource(r.Name, doc); err != nil {
			return fmt.Errorf("invalid JSON schema: reference %s: %v", r.Name, err)
		}
	}
	return nil
}

func (p jsonParsed) Text() string { return p.text }

// Normalized re-encodes the document with object keys sorted.
func (p jsonParsed) Normalized() string {
	b, err := json.Marshal(p.doc)
	if err != nil {
		return p.text
	}
	return string(b)
}

func (p jsonParsed) CanRead(writer Parsed) []string {
	w, ok := writer.(jsonParsed)
	if !ok {
		return []string{"{errorType:'TYPE_CHANGED', description:'the other schema is not a JSON schema'}"}
	}
	return jscompat.CanRead(p.doc, w.doc)
}
