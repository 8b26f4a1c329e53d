package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/linkedin/goavro/v2"
	sjs "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice/schemaregistry/compat/avro"
	"github.com/sluicehq/sluice/schemaregistry/format"
)

// Schema is a schema fetched from a registry, references resolved.
type Schema struct {
	ID   int
	Type string // AVRO, JSON or PROTOBUF
	Text string
	Refs []format.Ref
}

// Client fetches schemas by id from a Confluent-compatible registry over
// HTTP and caches them (an id's schema never changes).
type Client struct {
	// URL is the registry's base URL, e.g. http://127.0.0.1:8081.
	URL  string
	HTTP *http.Client

	mu    sync.Mutex
	cache map[int]Schema
}

type wireSchema struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType"`
	References []struct {
		Name    string `json:"name"`
		Subject string `json:"subject"`
		Version int    `json:"version"`
	} `json:"references"`
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(c.URL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("serde: GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// SchemaByID returns the schema registered under id.
func (c *Client) SchemaByID(ctx context.Context, id int) (Schema, error) {
	c.mu.Lock()
	if s, ok := c.cache[id]; ok {
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	var w wireSchema
	if err := c.get(ctx, fmt.Sprintf("/schemas/ids/%d", id), &w); err != nil {
		return Schema{}, err
	}
	refs, err := c.resolve(ctx, w, 0)
	if err != nil {
		return Schema{}, err
	}
	s := Schema{ID: id, Type: format.Normalize(w.SchemaType), Text: w.Schema, Refs: refs}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[int]Schema{}
	}
	c.cache[id] = s
	c.mu.Unlock()
	return s, nil
}

func (c *Client) resolve(ctx context.Context, w wireSchema, depth int) ([]format.Ref, error) {
	if depth > 20 {
		return nil, fmt.Errorf("serde: references nested too deeply")
	}
	var out []format.Ref
	for _, r := range w.References {
		var sub wireSchema
		if err := c.get(ctx, fmt.Sprintf("/subjects/%s/versions/%d", url.PathEscape(r.Subject), r.Version), &sub); err != nil {
			return nil, err
		}
		subRefs, err := c.resolve(ctx, sub, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, format.Ref{Name: r.Name, Subject: r.Subject, Version: r.Version, Type: sub.SchemaType, Schema: sub.Schema, Refs: subRefs})
	}
	return out, nil
}

// Avro encodes and decodes Avro data in the wire format with goavro's
// native Go values (map[string]any for records, goavro.Union for unions).
type Avro struct {
	Client *Client

	mu     sync.Mutex
	codecs map[int]*goavro.Codec
}

// Codec returns the goavro codec of a schema id. Schemas with references
// are flattened into one self-contained schema first.
func (a *Avro) Codec(ctx context.Context, id int) (*goavro.Codec, error) {
	a.mu.Lock()
	if c, ok := a.codecs[id]; ok {
		a.mu.Unlock()
		return c, nil
	}
	a.mu.Unlock()
	s, err := a.Client.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.Type != format.Avro {
		return nil, fmt.Errorf("serde: schema %d is %s, not AVRO", id, s.Type)
	}
	p, err := format.Parse(format.Avro, s.Text, s.Refs)
	if err != nil {
		return nil, err
	}
	model, _ := format.AvroSchema(p)
	codec, err := goavro.NewCodec(avro.Text(model))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.codecs == nil {
		a.codecs = map[int]*goavro.Codec{}
	}
	a.codecs[id] = codec
	a.mu.Unlock()
	return codec, nil
}

// Encode frames native encoded with schema id.
func (a *Avro) Encode(ctx context.Context, id int, native any) ([]byte, error) {
	codec, err := a.Codec(ctx, id)
	if err != nil {
		return nil, err
	}
	return codec.BinaryFromNative(AppendHeader(nil, id), native)
}

// Decode reads a framed message, fetching its writer schema by id.
func (a *Avro) Decode(ctx context.Context, b []byte) (native any, id int, err error) {
	id, payload, err := ParseHeader(b)
	if err != nil {
		return nil, 0, err
	}
	codec, err := a.Codec(ctx, id)
	if err != nil {
		return nil, id, err
	}
	native, rest, err := codec.NativeFromBinary(payload)
	if err != nil {
		return nil, id, err
	}
	if len(rest) > 0 {
		return nil, id, fmt.Errorf("serde: %d bytes after the Avro datum", len(rest))
	}
	return native, id, nil
}

// JSON encodes and decodes JSON documents in the wire format, validating
// each against its schema.
type JSON struct {
	Client *Client

	mu      sync.Mutex
	schemas map[int]*sjs.Schema
}

type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("serde: %s is not a reference", u)
}

func (j *JSON) compiled(ctx context.Context, id int) (*sjs.Schema, error) {
	j.mu.Lock()
	if s, ok := j.schemas[id]; ok {
		j.mu.Unlock()
		return s, nil
	}
	j.mu.Unlock()
	s, err := j.Client.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.Type != format.JSON {
		return nil, fmt.Errorf("serde: schema %d is %s, not JSON", id, s.Type)
	}
	c := sjs.NewCompiler()
	c.UseLoader(noLoader{})
	var add func(refs []format.Ref) error
	add = func(refs []format.Ref) error {
		for _, r := range refs {
			if err := add(r.Refs); err != nil {
				return err
			}
			doc, err := sjs.UnmarshalJSON(strings.NewReader(r.Schema))
			if err != nil {
				return err
			}
			if err := c.AddResource(r.Name, doc); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(s.Refs); err != nil {
		return nil, err
	}
	doc, err := sjs.UnmarshalJSON(strings.NewReader(s.Text))
	if err != nil {
		return nil, err
	}
	loc := fmt.Sprintf("sluice:///schemas/%d.json", id)
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	if j.schemas == nil {
		j.schemas = map[int]*sjs.Schema{}
	}
	j.schemas[id] = sch
	j.mu.Unlock()
	return sch, nil
}

// Encode validates v (any value encoding/json can marshal) against schema
// id and frames it.
func (j *JSON) Encode(ctx context.Context, id int, v any) ([]byte, error) {
	sch, err := j.compiled(ctx, id)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	doc, err := sjs.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if err := sch.Validate(doc); err != nil {
		return nil, fmt.Errorf("serde: value does not match schema %d: %w", id, err)
	}
	return append(AppendHeader(nil, id), body...), nil
}

// Decode reads a framed JSON message, validates it and unmarshals it into v.
func (j *JSON) Decode(ctx context.Context, b []byte, v any) (id int, err error) {
	id, payload, err := ParseHeader(b)
	if err != nil {
		return 0, err
	}
	sch, err := j.compiled(ctx, id)
	if err != nil {
		return id, err
	}
	doc, err := sjs.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return id, err
	}
	if err := sch.Validate(doc); err != nil {
		return id, fmt.Errorf("serde: value does not match schema %d: %w", id, err)
	}
	return id, json.Unmarshal(payload, v)
}
