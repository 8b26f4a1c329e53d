package runtime

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestJSONConverterSchemas(t *testing.T) {
	c, err := NewConverter(JSONConverterClass, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{"id": int64(7), "name": "x", "ok": true, "price": 1.5}
	b, err := c.FromConnect("t", v)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	schema := env["schema"].(map[string]any)
	if schema["type"] != "struct" || len(schema["fields"].([]any)) != 4 || env["payload"] == nil {
		t.Fatalf("envelope = %s", b)
	}
	fields := map[string]string{}
	for _, f := range schema["fields"].([]any) {
		m := f.(map[string]any)
		fields[m["field"].(string)] = m["type"].(string)
	}
	if !reflect.DeepEqual(fields, map[string]string{"id": "int64", "name": "string", "ok": "boolean", "price": "double"}) {
		t.Fatalf("fields = %v", fields)
	}
	back, err := c.ToConnect("t", b)
	if err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("round trip = %#v, %v", back, err)
	}
	// Kafka's own envelope for a string.
	got, err := c.ToConnect("t", []byte(`{"schema":{"type":"string","optional":false},"payload":"hello"}`))
	if err != nil || got != "hello" {
		t.Fatalf("string envelope = %#v, %v", got, err)
	}
	if _, err := c.ToConnect("t", []byte(`{"id":1}`)); err == nil {
		t.Fatal("plain JSON accepted with schemas.enable=true")
	}
	if _, err := c.ToConnect("t", []byte(`{bad`)); err == nil {
		t.Fatal("invalid JSON accepted")
	}
	if b, _ := c.FromConnect("t", nil); b != nil {
		t.Fatal("tombstone not kept")
	}
}

func TestJSONConverterPlain(t *testing.T) {
	c, err := NewConverter("JsonConverter", map[string]string{"schemas.enable": "false"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.FromConnect("t", map[string]any{"a": int64(1)})
	if string(b) != `{"a":1}` {
		t.Fatalf("got %s", b)
	}
	v, err := c.ToConnect("t", []byte(`{"a":1,"b":[2.5]}`))
	if err != nil || !reflect.DeepEqual(v, map[string]any{"a": int64(1), "b": []any{2.5}}) {
		t.Fatalf("got %#v %v", v, err)
	}
	if _, err := NewConverter("JsonConverter", map[string]string{"schemas.enable": "maybe"}); err == nil {
		t.Fatal("bad schemas.enable accepted")
	}
}

func TestStringAndByteArrayConverters(t *testing.T) {
	s, _ := NewConverter(StringConverterClass, nil)
	if b, _ := s.FromConnect("t", "héllo"); string(b) != "héllo" {
		t.Fatalf("string = %q", b)
	}
	if b, _ := s.FromConnect("t", int64(5)); string(b) != "5" {
		t.Fatalf("int = %q", b)
	}
	if v, _ := s.ToConnect("t", []byte("x")); v != "x" {
		t.Fatalf("to = %v", v)
	}
	ba, _ := NewConverter(ByteArrayConverterClass, nil)
	if b, _ := ba.FromConnect("t", []byte{1, 2}); !reflect.DeepEqual(b, []byte{1, 2}) {
		t.Fatalf("bytes = %v", b)
	}
	if _, err := ba.FromConnect("t", "str"); err == nil {
		t.Fatal("ByteArrayConverter accepted a string")
	}
	if _, err := NewConverter("com.example.Nope", nil); err == nil {
		t.Fatal("unknown converter accepted")
	}
}
