package store

import (
	"encoding/json"
	"testing"
)

// TestKeysByteForByte: keys must equal Confluent's bytes, or log compaction
// would keep two records for one key after a move between registries.
func TestKeysByteForByte(t *testing.T) {
	cases := []struct {
		k    Key
		want string
	}{
		{SchemaKey("orders-value", 3), `{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}`},
		{ConfigKey(""), `{"keytype":"CONFIG","subject":null,"magic":0}`},
		{ConfigKey("s"), `{"keytype":"CONFIG","subject":"s","magic":0}`},
		{ModeKey(""), `{"keytype":"MODE","subject":null,"magic":0}`},
		{DeleteSubjectKey("s"), `{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`},
		{NoopKey(), `{"keytype":"NOOP","magic":0}`},
	}
	for _, tc := range cases {
		if got := string(tc.k.Encode()); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
		back, err := DecodeKey([]byte(tc.want))
		if err != nil {
			t.Fatal(err)
		}
		if string(back.Encode()) != tc.want {
			t.Errorf("round trip of %s gave %s", tc.want, back.Encode())
		}
	}
}

func TestDecodeValues(t *testing.T) {
	r, err := Decode([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`),
		[]byte(`{"subject":"s","version":1,"id":4,"schemaType":"JSON","schema":"{}","deleted":true,"metadata":{"properties":{"a":"b"}},"md5":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	v := r.Value.(*SchemaValue)
	if v.ID != 4 || v.SchemaType != "JSON" || !v.Deleted || string(v.Metadata) != `{"properties":{"a":"b"}}` {
		t.Fatalf("%+v", v)
	}
	// Avro omits schemaType, as Confluent writes it.
	_, val, _ := Record{Key: SchemaKey("s", 1), Value: &SchemaValue{Subject: "s", Version: 1, ID: 2, Schema: `"int"`}}.Encode()
	if string(val) != `{"subject":"s","version":1,"id":2,"schema":"\"int\"","deleted":false}` {
		t.Fatalf("value %s", val)
	}
	// Config fields this registry does not use survive a round trip.
	r, err = Decode([]byte(`{"keytype":"CONFIG","subject":null,"magic":0}`), []byte(`{"compatibilityLevel":"FULL","defaultMetadata":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(r.Value)
	if string(out) != `{"compatibilityLevel":"FULL","defaultMetadata":{"x":1}}` {
		t.Fatalf("config %s", out)
	}
	// Tombstones and unknown kinds.
	if r, err := Decode([]byte(`{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`), nil); err != nil || r.Value != nil {
		t.Fatalf("tombstone: %v %v", r, err)
	}
	if _, err := Decode([]byte(`{"keytype":"FUTURE","magic":0}`), []byte(`{}`)); err == nil {
		t.Fatal("unknown key type accepted")
	}
	if _, err := Decode([]byte(`garbage`), []byte(`{}`)); err == nil {
		t.Fatal("garbage key accepted")
	}
}
