package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/schemaregistry/format"
	"github.com/sluicehq/sluice/schemaregistry/serde"
	"github.com/sluicehq/sluice/streams/plan"
)

// Avro keys and values travel in the Confluent wire format (magic byte 0,
// 4-byte schema id, Avro binary). A source fetches each writer schema by id
// from the job's registry; a sink registers its schema (or takes the
// subject's latest) once at start and writes every record with that id.
//
// Records become plain JSON-like values (objects, lists, strings, ints,
// floats, bools, nil) through goavro's standard-JSON codec, so unions are
// their bare value and expressions see the same shapes as for JSON input.

// ErrRegistry marks a failure to reach the schema registry or to find a
// schema in it. It stops the job (and the engine restarts it) rather than
// sending records to the dead-letter topic, since it is not the record's
// fault.
var ErrRegistry = errors.New("schema registry")

// avroCodecs caches the standard-JSON codecs of schema ids.
type avroCodecs struct {
	url    string
	client *serde.Client
	http   *http.Client

	mu    sync.Mutex
	byID  map[int]*goavro.Codec
	sinks map[string]avroSink // by subject
}

type avroSink struct {
	id    int
	codec *goavro.Codec
}

func newAvroCodecs(registryURL string) *avroCodecs {
	hc := &http.Client{Timeout: 30 * time.Second} // a hung registry fails the job, which restarts
	return &avroCodecs{url: strings.TrimRight(registryURL, "/"), client: &serde.Client{URL: registryURL, HTTP: hc}, http: hc,
		byID: map[int]*goavro.Codec{}, sinks: map[string]avroSink{}}
}

func codecFor(text string, refs []format.Ref) (*goavro.Codec, error) {
	p, err := format.Parse(format.Avro, text, refs)
	if err != nil {
		return nil, err
	}
	return goavro.NewCodecForStandardJSONFull(p.Text())
}

func (a *avroCodecs) codec(ctx context.Context, id int) (*goavro.Codec, error) {
	a.mu.Lock()
	c := a.byID[id]
	a.mu.Unlock()
	if c != nil {
		return c, nil
	}
	s, err := a.client.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %v", ErrRegistry, id, err)
	}
	if s.Type != format.Avro {
		return nil, fmt.Errorf("schema id %d is %s, not AVRO", id, s.Type)
	}
	c, err = codecFor(s.Text, s.Refs)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	a.mu.Lock()
	a.byID[id] = c
	a.mu.Unlock()
	return c, nil
}

// decode reads one framed Avro datum into a plain value.
func (a *avroCodecs) decode(ctx context.Context, b []byte) (any, error) {
	id, payload, err := serde.ParseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("not in the Confluent wire format: %w", err)
	}
	c, err := a.codec(ctx, id)
	if err != nil {
		return nil, err
	}
	native, rest, err := c.NativeFromBinary(payload)
	if err != nil {
		return nil, fmt.Errorf("avro (schema id %d): %w", id, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("avro (schema id %d): %d bytes after the datum", id, len(rest))
	}
	text, err := c.TextualFromNative(nil, native)
	if err != nil {
		return nil, fmt.Errorf("avro (schema id %d): %w", id, err)
	}
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber() // Avro ints stay ints
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("avro (schema id %d): %w", id, err)
	}
	return numbers(v), nil
}

// encode writes v (a JSON-like value) as a framed Avro datum.
func (a *avroSink) encode(v any) ([]byte, error) {
	text, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	native, _, err := a.codec.NativeFromTextual(text)
	if err != nil {
		return nil, fmt.Errorf("output does not fit the avro schema %d: %w", a.id, err)
	}
	return a.codec.BinaryFromNative(serde.AppendHeader(nil, a.id), native)
}

// sink resolves the schema a sink writes with: it registers schema under
// subject if given (registering the same schema again returns its id),
// else takes the subject's latest version.
func (a *avroCodecs) sink(ctx context.Context, subject, schema string) (*avroSink, error) {
	a.mu.Lock()
	s, ok := a.sinks[subject]
	a.mu.Unlock()
	if ok {
		return &s, nil
	}
	var id int
	var text string
	var refs []format.Ref
	if schema != "" {
		if _, err := codecFor(schema, nil); err != nil {
			return nil, fmt.Errorf("sink schema for %s: %w", subject, err)
		}
		body, _ := json.Marshal(map[string]string{"schema": schema})
		var resp struct {
			ID int `json:"id"`
		}
		if err := a.call(ctx, "POST", "/subjects/"+url.PathEscape(subject)+"/versions", body, &resp); err != nil {
			return nil, err
		}
		id, text = resp.ID, schema
	} else {
		var resp struct {
			ID     int    `json:"id"`
			Schema string `json:"schema"`
		}
		if err := a.call(ctx, "GET", "/subjects/"+url.PathEscape(subject)+"/versions/latest", nil, &resp); err != nil {
			return nil, err
		}
		full, err := a.client.SchemaByID(ctx, resp.ID) // resolves references
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRegistry, err)
		}
		id, text, refs = resp.ID, full.Text, full.Refs
	}
	c, err := codecFor(text, refs)
	if err != nil {
		return nil, fmt.Errorf("sink schema %s (id %d): %w", subject, id, err)
	}
	s = avroSink{id: id, codec: c}
	a.mu.Lock()
	a.sinks[subject] = s
	a.mu.Unlock()
	return &s, nil
}

func (a *avroCodecs) call(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRegistry, err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRegistry, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRegistry, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s %s: %s: %s", ErrRegistry, method, path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// prepareSink resolves the avro schemas the job's sink writes with; only
// the stage writing the job's sink has one (repartition topics are JSON).
func (r *runner) prepareSink(ctx context.Context) error {
	sink := r.plan.Job.Sink
	if r.avro == nil || sink.Topic != r.cfg.Plan.Job.Sink.Topic {
		return nil
	}
	var err error
	if sink.Format == "avro" {
		if r.sinkValue, err = r.avro.sink(ctx, sink.Avro.Subject, sink.Avro.Schema); err != nil {
			return fmt.Errorf("streams job %q: sink: %w", r.job, err)
		}
	}
	if sink.KeyFormat.Format == "avro" {
		if r.sinkKey, err = r.avro.sink(ctx, sink.KeyFormat.Subject, sink.KeyFormat.Schema); err != nil {
			return fmt.Errorf("streams job %q: sink key: %w", r.job, err)
		}
	}
	return nil
}

// decodeKey and decodeValue decode a source record in its formats.
func (r *runner) decodeKey(s plan.Source, b []byte) (any, error) {
	if s.Key.Format != "avro" || b == nil {
		return DecodeKey(s, b)
	}
	v, err := r.avro.decode(context.Background(), b)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return v, nil
}

func (r *runner) decodeValue(s plan.Source, b []byte) (any, error) {
	if s.Value.Format != "avro" || b == nil {
		return DecodeValue(s, b)
	}
	v, err := r.avro.decode(context.Background(), b)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	return coerceFields(s, v)
}
