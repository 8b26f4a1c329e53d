package runtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/schemaregistry/compat/avro"
	"github.com/sluicehq/sluice/schemaregistry/format"
	"github.com/sluicehq/sluice/schemaregistry/serde"
)

// Subject name strategies, by Confluent's class names.
const (
	TopicNameStrategy       = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
	RecordNameStrategy      = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
	TopicRecordNameStrategy = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
)

// AvroConverter is io.confluent.connect.avro.AvroConverter: Connect data
// mapped to Avro by Confluent's AvroData rules (package avrodata), framed in
// Confluent's wire format (magic 0, schema id) with schemas kept in a
// Confluent-compatible registry.
//
// Settings (after key.converter. / value.converter.): schema.registry.url
// (required; several comma-separated are tried in order),
// auto.register.schemas (default true), use.latest.version (default false;
// only with auto.register.schemas=false, as Confluent), key.subject.name.strategy
// / value.subject.name.strategy (TopicNameStrategy, RecordNameStrategy,
// TopicRecordNameStrategy; default TopicNameStrategy: <topic>-key,
// <topic>-value), basic.auth.user.info ("user:password").
//
// Schemaless values (no Connect schema) get an inferred schema, as the
// JsonConverter does; Confluent's converter would reject most of them.
type AvroConverter struct {
	urls         []string
	isKey        bool
	autoRegister bool
	useLatest    bool
	strategy     string
	userInfo     string
	hc           *http.Client
	client       *serde.Client

	mu       sync.Mutex
	avroJSON map[*plugin.Schema]string // Avro schema text by Connect schema
	ids      map[string]int            // subject + "\x00" + Avro text -> id
	latest   map[string]*writer        // subject -> its latest version (use.latest.version)
	writers  map[int]*writer           // id -> codec for writing
	readers  map[int]*reader           // id -> codec and Connect schema for reading
	inferred inferCache
}

type writer struct {
	id     int
	codec  *goavro.Codec
	schema *plugin.Schema // the Connect schema values are converted under
}

type reader struct {
	codec  *goavro.Codec
	schema *plugin.Schema
}

const registryTimeout = 30 * time.Second

// NewAvroConverter builds an AvroConverter from its settings.
func NewAvroConverter(cfg map[string]string, isKey bool) (*AvroConverter, error) {
	raw := strings.TrimSpace(cfg["schema.registry.url"])
	if raw == "" {
		return nil, fmt.Errorf(`Missing required configuration "schema.registry.url" which has no default value.`)
	}
	c := &AvroConverter{isKey: isKey, autoRegister: true, hc: &http.Client{Timeout: registryTimeout},
		avroJSON: map[*plugin.Schema]string{}, ids: map[string]int{}, latest: map[string]*writer{},
		writers: map[int]*writer{}, readers: map[int]*reader{}}
	for _, u := range plugin.SplitList(raw) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("Invalid value %s for configuration schema.registry.url: not an http(s) URL", u)
		}
		if pu.User != nil {
			c.userInfo = pu.User.String()
			pu.User = nil
		}
		c.urls = append(c.urls, strings.TrimRight(pu.String(), "/"))
	}
	boolKey := func(k string, def bool) (bool, error) {
		v, ok := cfg[k]
		if !ok {
			return def, nil
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return false, fmt.Errorf("Invalid value %s for configuration %s: Expected value to be either true or false", v, k)
	}
	var err error
	if c.autoRegister, err = boolKey("auto.register.schemas", true); err != nil {
		return nil, err
	}
	if c.useLatest, err = boolKey("use.latest.version", false); err != nil {
		return nil, err
	}
	sk := "value.subject.name.strategy"
	if isKey {
		sk = "key.subject.name.strategy"
	}
	c.strategy = TopicNameStrategy
	if v := strings.TrimSpace(cfg[sk]); v != "" {
		switch simpleName(v) {
		case "TopicNameStrategy":
		case "RecordNameStrategy":
			c.strategy = RecordNameStrategy
		case "TopicRecordNameStrategy":
			c.strategy = TopicRecordNameStrategy
		default:
			return nil, fmt.Errorf("Invalid value %s for configuration %s: Class could not be found.", v, sk)
		}
	}
	if ui := strings.TrimSpace(cfg["basic.auth.user.info"]); ui != "" {
		c.userInfo = ui
	}
	c.client = &serde.Client{URL: c.urls[0], HTTP: &http.Client{Timeout: registryTimeout, Transport: authTransport{c.userInfo}}}
	return c, nil
}

// authTransport adds HTTP basic auth when configured.
type authTransport struct{ userInfo string }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.userInfo != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a.userInfo)))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// registryError is a registry's {"error_code","message"} answer.
type registryError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *registryError) Error() string {
	return fmt.Sprintf("schema registry: %s; error code: %d", e.Message, e.Code)
}

// call sends a request to the first registry URL that answers.
func (c *AvroConverter) call(method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var lastErr error
	for _, base := range c.urls {
		ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(payload))
		if err != nil {
			cancel()
			return err
		}
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json")
		if c.userInfo != "" {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.userInfo)))
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			lastErr = err
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode/100 != 2 {
			re := &registryError{Status: resp.StatusCode}
			if json.Unmarshal(data, re) != nil || re.Message == "" {
				re.Code, re.Message = resp.StatusCode, strings.TrimSpace(string(data))
			}
			return re
		}
		return json.Unmarshal(data, out)
	}
	return fmt.Errorf("schema registry unreachable: %w", lastErr)
}

// FromConnect serializes v as Avro in the wire format.
func (c *AvroConverter) FromConnect(topic string, s *plugin.Schema, v any) ([]byte, error) {
	if v == nil && (s == nil || s.Optional || s.Default == nil) {
		return nil, nil
	}
	if s == nil {
		s = c.inferred.schema(v)
	}
	text, err := c.schemaText(s)
	if err != nil {
		return nil, fmt.Errorf("Failed to convert data to Avro: %w", err)
	}
	subject, err := c.subject(topic, s)
	if err != nil {
		return nil, err
	}
	w, err := c.writerFor(subject, text, s)
	if err != nil {
		return nil, fmt.Errorf("Failed to access Avro data from topic %s: %w", topic, err)
	}
	native, err := avrodata.ToAvroValue(w.schema, v)
	if err != nil {
		return nil, fmt.Errorf("Failed to convert data to Avro: %w", err)
	}
	out, err := w.codec.BinaryFromNative(serde.AppendHeader(make([]byte, 0, 64), w.id), native)
	if err != nil {
		return nil, fmt.Errorf("Failed to serialize Avro data from topic %s: %w", topic, err)
	}
	return out, nil
}

func (c *AvroConverter) schemaText(s *plugin.Schema) (string, error) {
	c.mu.Lock()
	t, ok := c.avroJSON[s]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := avrodata.ToAvroSchema(s)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.avroJSON) >= schemaCacheMax {
		clear(c.avroJSON)
	}
	c.avroJSON[s] = t
	c.mu.Unlock()
	return t, nil
}

// subject names the registry subject per the configured strategy.
func (c *AvroConverter) subject(topic string, s *plugin.Schema) (string, error) {
	suffix := "-value"
	if c.isKey {
		suffix = "-key"
	}
	if c.strategy == TopicNameStrategy {
		return topic + suffix, nil
	}
	if s.Type != plugin.StructT {
		return "", fmt.Errorf("%s needs a record schema, not %s", simpleName(c.strategy), s.Type)
	}
	name := s.Name
	if name == "" {
		name = avrodata.Namespace + "." + avrodata.DefaultName
	}
	if c.strategy == RecordNameStrategy {
		return name, nil
	}
	return topic + "-" + name, nil
}

// writerFor finds the schema id to write under: registering the schema
// (auto.register.schemas), taking the subject's latest version
// (use.latest.version), or looking the schema up.
func (c *AvroConverter) writerFor(subject, text string, s *plugin.Schema) (*writer, error) {
	if !c.autoRegister && c.useLatest {
		return c.latestWriter(subject)
	}
	key := subject + "\x00" + text
	c.mu.Lock()
	id, ok := c.ids[key]
	w := c.writers[id]
	c.mu.Unlock()
	if ok && w != nil && w.schema == s {
		return w, nil
	}
	if !ok {
		var resp struct {
			ID int `json:"id"`
		}
		path := "/subjects/" + url.PathEscape(subject)
		var err error
		if c.autoRegister {
			err = c.call("POST", path+"/versions", map[string]string{"schema": text}, &resp)
		} else {
			err = c.call("POST", path, map[string]string{"schema": text}, &resp)
		}
		if err != nil {
			return nil, err
		}
		id = resp.ID
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, err
	}
	w = &writer{id: id, codec: codec, schema: s}
	c.mu.Lock()
	if len(c.ids) >= schemaCacheMax {
		clear(c.ids)
		clear(c.writers)
	}
	c.ids[key] = id
	c.writers[id] = w
	c.mu.Unlock()
	return w, nil
}

func (c *AvroConverter) latestWriter(subject string) (*writer, error) {
	c.mu.Lock()
	w, ok := c.latest[subject]
	c.mu.Unlock()
	if ok {
		return w, nil
	}
	var resp struct {
		ID     int    `json:"id"`
		Schema string `json:"schema"`
	}
	if err := c.call("GET", "/subjects/"+url.PathEscape(subject)+"/versions/latest", nil, &resp); err != nil {
		return nil, err
	}
	r, err := c.readerFor(resp.ID)
	if err != nil {
		return nil, err
	}
	w = &writer{id: resp.ID, codec: r.codec, schema: r.schema}
	c.mu.Lock()
	c.latest[subject] = w
	c.mu.Unlock()
	return w, nil
}

// readerFor returns the codec and Connect schema of a registered schema.
func (c *AvroConverter) readerFor(id int) (*reader, error) {
	c.mu.Lock()
	r, ok := c.readers[id]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	sc, err := c.client.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if sc.Type != format.Avro {
		return nil, fmt.Errorf("schema %d is %s, not AVRO", id, sc.Type)
	}
	text := sc.Text
	if len(sc.Refs) > 0 {
		p, err := format.Parse(format.Avro, sc.Text, sc.Refs)
		if err != nil {
			return nil, err
		}
		model, _ := format.AvroSchema(p)
		text = avro.Text(model)
	}
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, err
	}
	cs, err := avrodata.FromAvroSchema(text)
	if err != nil {
		return nil, err
	}
	r = &reader{codec: codec, schema: cs}
	c.mu.Lock()
	if len(c.readers) >= schemaCacheMax {
		clear(c.readers)
	}
	c.readers[id] = r
	c.mu.Unlock()
	return r, nil
}

// ToConnect reads a wire-format Avro message.
func (c *AvroConverter) ToConnect(topic string, b []byte) (*plugin.Schema, any, error) {
	if b == nil {
		return nil, nil, nil
	}
	id, payload, err := serde.ParseHeader(b)
	if err != nil {
		return nil, nil, fmt.Errorf("Failed to deserialize data for topic %s to Avro: Unknown magic byte!", topic)
	}
	r, err := c.readerFor(id)
	if err != nil {
		return nil, nil, fmt.Errorf("Failed to deserialize data for topic %s to Avro: Error retrieving Avro schema for id %d: %w", topic, id, err)
	}
	native, rest, err := r.codec.NativeFromBinary(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("Failed to deserialize data for topic %s to Avro: %w", topic, err)
	}
	if len(rest) > 0 {
		return nil, nil, fmt.Errorf("Failed to deserialize data for topic %s to Avro: %d bytes after the datum", topic, len(rest))
	}
	v, err := avrodata.FromAvroValue(r.schema, native)
	if err != nil {
		return nil, nil, fmt.Errorf("Failed to deserialize data for topic %s to Avro: %w", topic, err)
	}
	return r.schema, v, nil
}

// inferCache infers schemas for schemaless values, one per value shape,
// so a stream of like-shaped records shares one *plugin.Schema (and with
// it the converters' per-schema caches and one registry id).
type inferCache struct {
	mu sync.Mutex
	m  map[string]*plugin.Schema
}

func (c *inferCache) schema(v any) *plugin.Schema {
	var b strings.Builder
	shapeKey(&b, v)
	key := b.String()
	c.mu.Lock()
	s, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return s
	}
	s = inferSchema(v)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= schemaCacheMax {
		c.m = map[string]*plugin.Schema{}
	}
	c.m[key] = s
	c.mu.Unlock()
	return s
}

// shapeKey writes what inferSchema depends on: types and map keys.
func shapeKey(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte(':')
			shapeKey(b, x[k])
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		if len(x) > 0 {
			shapeKey(b, x[0])
		}
		b.WriteByte(']')
	case *plugin.Struct:
		fmt.Fprintf(b, "S%p", x.Schema)
	default:
		fmt.Fprintf(b, "%T", v)
	}
}
