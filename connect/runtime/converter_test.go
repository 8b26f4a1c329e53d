package runtime

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
)

func TestJSONConverterInfersSchema(t *testing.T) {
	c, err := NewConverter(JSONConverterClass, map[string]string{}, false)
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{"id": int64(7), "name": "x", "ok": true, "price": 1.5}
	b, err := c.FromConnect("t", nil, v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":{"type":"struct","fields":[{"type":"int64","optional":true,"field":"id"},{"type":"string","optional":true,"field":"name"},` +
		`{"type":"boolean","optional":true,"field":"ok"},{"type":"double","optional":true,"field":"price"}],"optional":true},` +
		`"payload":{"id":7,"name":"x","ok":true,"price":1.5}}`
	if string(b) != want {
		t.Fatalf("envelope\n got %s\nwant %s", b, want)
	}
	s, back, err := c.ToConnect("t", b)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := back.(*plugin.Struct)
	if !ok || s.Type != plugin.StructT || st.Schema != s || !reflect.DeepEqual(st.Values, v) {
		t.Fatalf("round trip = %#v, %v", back, s)
	}
	// Plain JSON is refused with schemas.enable=true, as Kafka does.
	if _, _, err := c.ToConnect("t", []byte(`{"id":1}`)); err == nil {
		t.Fatal("plain JSON accepted with schemas.enable=true")
	}
	if _, _, err := c.ToConnect("t", []byte(`{bad`)); err == nil {
		t.Fatal("invalid JSON accepted")
	}
	if b, _ := c.FromConnect("t", nil, nil); b != nil {
		t.Fatal("tombstone not kept")
	}
}

// Envelopes as Kafka Connect's JsonConverter writes them (key order of
// JsonConverter.asJsonSchema, compact): reading one and writing it back must
// give the same bytes.
func TestJSONConverterKafkaFixtures(t *testing.T) {
	c, _ := NewConverter(JSONConverterClass, nil, false)
	fixtures := []struct {
		name, json string
		check      func(t *testing.T, s *plugin.Schema, v any)
	}{
		{"datagen users (Confluent docs)",
			`{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"registertime"},{"type":"string","optional":false,"field":"userid"},{"type":"string","optional":false,"field":"regionid"},{"type":"string","optional":false,"field":"gender"}],"optional":false,"name":"ksql.users"},"payload":{"registertime":1493819497170,"userid":"User_1","regionid":"Region_5","gender":"MALE"}}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				st := v.(*plugin.Struct)
				if s.Name != "ksql.users" || s.Optional || len(s.Fields) != 4 || st.Get("registertime") != int64(1493819497170) || st.Get("gender") != "MALE" {
					t.Fatalf("got %+v %+v", s, st.Values)
				}
			}},
		{"string", `{"schema":{"type":"string","optional":false},"payload":"hello"}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if v != "hello" || s.Type != plugin.String {
					t.Fatalf("got %v", v)
				}
			}},
		{"decimal 2.22", `{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AN4="}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if avrodata.Unscaled(v.([]byte)).Int64() != 222 || s.Parameters["scale"] != "2" || s.Version != 1 {
					t.Fatalf("got %v %+v", v, s)
				}
			}},
		{"bytes", `{"schema":{"type":"bytes","optional":false},"payload":"AQID"}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if !reflect.DeepEqual(v, []byte{1, 2, 3}) {
					t.Fatalf("got %v", v)
				}
			}},
		{"timestamp", `{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":1700000000000}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if v != int64(1700000000000) || s.Name != avrodata.TimestampName {
					t.Fatalf("got %v", v)
				}
			}},
		{"map with int keys", `{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":false},"optional":false},"payload":[[1,"a"],[2,"b"]]}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if !reflect.DeepEqual(v, []plugin.MapEntry{{Key: int64(1), Value: "a"}, {Key: int64(2), Value: "b"}}) {
					t.Fatalf("got %#v", v)
				}
			}},
		{"array of optional floats", `{"schema":{"type":"array","items":{"type":"float","optional":true},"optional":true},"payload":[1.5,null]}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if !reflect.DeepEqual(v, []any{1.5, nil}) || !s.Optional || !s.Items.Optional {
					t.Fatalf("got %#v", v)
				}
			}},
		{"Debezium-style envelope", `{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"email"}],"optional":true,"name":"dbserver1.inventory.customers.Value","field":"after"},{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],"optional":false,"name":"dbserver1.inventory.customers.Envelope","version":1},"payload":{"after":{"id":1004,"email":null},"op":"c","ts_ms":null}}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				after := v.(*plugin.Struct).Get("after").(*plugin.Struct)
				if after.Get("id") != int64(1004) || after.Schema.Name != "dbserver1.inventory.customers.Value" || v.(*plugin.Struct).Get("ts_ms") != nil {
					t.Fatalf("got %+v", after)
				}
			}},
		{"field defaults and docs", `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"doc":"count","default":5,"field":"n"},{"type":"boolean","optional":false,"field":"b"}],"optional":false,"name":"r"},"payload":{"n":null,"b":true}}`,
			func(t *testing.T, s *plugin.Schema, v any) {
				if s.Field("n").Default != int64(5) || s.Field("n").Doc != "count" || v.(*plugin.Struct).Get("n") != int64(5) {
					t.Fatalf("got %+v", v)
				}
			}},
	}
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			s, v, err := c.ToConnect("t", []byte(f.json))
			if err != nil {
				t.Fatal(err)
			}
			f.check(t, s, v)
			b, err := c.FromConnect("t", s, v)
			if err != nil {
				t.Fatal(err)
			}
			want := f.json
			if f.name == "field defaults and docs" {
				// A null optional field with a default reads as the default.
				want = `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"doc":"count","default":5,"field":"n"},{"type":"boolean","optional":false,"field":"b"}],"optional":false,"name":"r"},"payload":{"n":5,"b":true}}`
			}
			if string(b) != want {
				t.Fatalf("written back\n got %s\nwant %s", b, want)
			}
		})
	}
}

func TestJSONConverterTypedValues(t *testing.T) {
	c, _ := NewConverter(JSONConverterClass, nil, false)
	dec := &plugin.Schema{Type: plugin.Bytes, Name: avrodata.DecimalName, Version: 1, Parameters: map[string]string{"scale": "2"}}
	s := &plugin.Schema{Type: plugin.StructT, Name: "order", Fields: []plugin.Field{
		{Name: "id", Schema: &plugin.Schema{Type: plugin.Int16}},
		{Name: "price", Schema: dec},
		{Name: "tags", Schema: &plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.String}, Values: &plugin.Schema{Type: plugin.Int32}}},
	}}
	st := plugin.NewStruct(s).Put("id", int16(3)).Put("price", big.NewRat(-1234, 100)).Put("tags", map[string]any{"a": 1})
	b, err := c.FromConnect("t", s, st)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Payload map[string]any }
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if env.Payload["price"] != "+y4=" || env.Payload["id"] != 3.0 { // -1234 = 0xfb2e
		t.Fatalf("payload = %s", b)
	}
	// NUMERIC decimals and schemas.enable=false.
	n, _ := NewConverter(JSONConverterClass, map[string]string{"decimal.format": "numeric", "schemas.enable": "false"}, false)
	b, err = n.FromConnect("t", s, st)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"id":3,"price":-12.34,"tags":{"a":1}}` {
		t.Fatalf("numeric = %s", b)
	}
	// Required field missing, wrong type: errors, not panics.
	if _, err := c.FromConnect("t", s, plugin.NewStruct(s)); err == nil {
		t.Fatal("missing required field accepted")
	}
	if _, err := c.FromConnect("t", s, "str"); err == nil {
		t.Fatal("string under struct schema accepted")
	}
	for _, bad := range []string{
		`{"schema":{"type":"int32","optional":false},"payload":null}`,
		`{"schema":{"type":"nope"},"payload":1}`,
		`{"schema":{"type":"struct","fields":{}},"payload":{}}`,
		`{"schema":{"type":"bytes","optional":false},"payload":"%%%"}`,
		`{"schema":{"type":"int32","optional":false},"payload":"x"}`,
		`{"schema":{"type":"string"},"payload":"x","extra":1}`,
	} {
		if _, _, err := c.ToConnect("t", []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	// replace.null.with.default=false keeps nulls.
	keep, _ := NewConverter(JSONConverterClass, map[string]string{"replace.null.with.default": "false"}, false)
	in := `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"default":5,"field":"n"}],"optional":false},"payload":{"n":null}}`
	ks, kv, err := keep.ToConnect("t", []byte(in))
	if err != nil || kv.(*plugin.Struct).Get("n") != nil {
		t.Fatalf("kept null = %v %v", kv, err)
	}
	if b, err := keep.FromConnect("t", ks, kv); err != nil || string(b) != in {
		t.Fatalf("kept null written = %s %v", b, err)
	}
	// A null schema reads as schemaless.
	s2, v, err := c.ToConnect("t", []byte(`{"schema":null,"payload":{"a":1}}`))
	if err != nil || s2 != nil || !reflect.DeepEqual(v, map[string]any{"a": int64(1)}) {
		t.Fatalf("null schema: %v %v %v", s2, v, err)
	}
}

func TestJSONConverterPlain(t *testing.T) {
	c, err := NewConverter("JsonConverter", map[string]string{"schemas.enable": "false"}, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.FromConnect("t", nil, map[string]any{"a": int64(1)})
	if string(b) != `{"a":1}` {
		t.Fatalf("got %s", b)
	}
	s, v, err := c.ToConnect("t", []byte(`{"a":1,"b":[2.5]}`))
	if err != nil || s != nil || !reflect.DeepEqual(v, map[string]any{"a": int64(1), "b": []any{2.5}}) {
		t.Fatalf("got %#v %v", v, err)
	}
	if _, err := NewConverter("JsonConverter", map[string]string{"schemas.enable": "maybe"}, false); err == nil {
		t.Fatal("bad schemas.enable accepted")
	}
}

func TestStringAndByteArrayConverters(t *testing.T) {
	s, _ := NewConverter(StringConverterClass, nil, false)
	if b, _ := s.FromConnect("t", nil, "héllo"); string(b) != "héllo" {
		t.Fatalf("string = %q", b)
	}
	if b, _ := s.FromConnect("t", nil, int64(5)); string(b) != "5" {
		t.Fatalf("int = %q", b)
	}
	if sch, v, _ := s.ToConnect("t", []byte("x")); v != "x" || sch.Type != plugin.String || !sch.Optional {
		t.Fatalf("to = %v %v", v, sch)
	}
	ba, _ := NewConverter(ByteArrayConverterClass, nil, false)
	if b, _ := ba.FromConnect("t", nil, []byte{1, 2}); !reflect.DeepEqual(b, []byte{1, 2}) {
		t.Fatalf("bytes = %v", b)
	}
	if _, err := ba.FromConnect("t", nil, "str"); err == nil {
		t.Fatal("ByteArrayConverter accepted a string")
	}
	if _, err := NewConverter("com.example.Nope", nil, false); err == nil {
		t.Fatal("unknown converter accepted")
	}
	if _, err := NewConverter(AvroConverterClass, nil, false); err == nil {
		t.Fatal("AvroConverter without schema.registry.url accepted")
	}
}

func FuzzJSONConverterToConnect(f *testing.F) {
	f.Add([]byte(`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":false},"payload":{"a":1}}`))
	f.Add([]byte(`{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"1"}}},"payload":[[1,"AA=="]]}`))
	c, _ := NewConverter(JSONConverterClass, nil, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, v, err := c.ToConnect("t", b)
		if err != nil {
			return
		}
		if _, err := c.FromConnect("t", s, v); err != nil && s == nil {
			t.Fatalf("schemaless value did not write back: %v", err)
		}
	})
}

// TestWriteStringMatchesEncodingJSON: the fast path for strings that need
// no escapes writes what encoding/json writes, and so does the slow one.
func TestWriteStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain ascii 123", "quote\"back\\slash", "<html>&amp;", "tab\tnew\nline\x01",
		"héllo wörld", "\u2028\u2029", "bad utf8 \xff\xfe", "emoji 😀", strings.Repeat("md5ab", 200)} {
		var buf bytes.Buffer
		writeString(&buf, s)
		want, _ := json.Marshal(s)
		if buf.String() != string(want) {
			t.Errorf("writeString(%q) = %s, encoding/json writes %s", s, buf.String(), want)
		}
	}
}

// TestConsumerOverrides: consumer.override.* keys the worker honours
// become consumer options; bad values and keys it cannot honour are
// validation errors naming the key.
func TestConsumerOverrides(t *testing.T) {
	s, errs := BuildSettings(map[string]string{
		"consumer.override.session.timeout.ms":    "10000",
		"consumer.override.heartbeat.interval.ms": "1000",
		"consumer.override.auto.offset.reset":     "latest",
		"consumer.override.client.rack":           "zone-a",
	})
	if len(errs) != 0 || len(s.consumerOpts) != 4 {
		t.Fatalf("errs %v, %d options", errs, len(s.consumerOpts))
	}
	_, errs = BuildSettings(map[string]string{
		"consumer.override.session.timeout.ms": "soon",
		"consumer.override.auto.offset.reset":  "middle",
		"consumer.override.bootstrap.servers":  "elsewhere:9092",
	})
	for _, k := range []string{"consumer.override.session.timeout.ms", "consumer.override.auto.offset.reset", "consumer.override.bootstrap.servers"} {
		if errs[k] == "" {
			t.Errorf("no error for %s (errs %v)", k, errs)
		}
	}
}
