package avrodata

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/connect/plugin"
)

func decimalSchema(scale string, optional bool) *plugin.Schema {
	return &plugin.Schema{Type: plugin.Bytes, Name: DecimalName, Version: 1, Optional: optional, Parameters: map[string]string{"scale": scale}}
}

// Exact shapes Confluent's AvroData writes for these Connect schemas.
func TestToAvroSchemaConfluentShapes(t *testing.T) {
	cases := []struct {
		s    *plugin.Schema
		want string
	}{
		{&plugin.Schema{Type: plugin.String}, `"string"`},
		{&plugin.Schema{Type: plugin.Int64, Optional: true}, `["null","long"]`},
		{&plugin.Schema{Type: plugin.Int16}, `{"type":"int","connect.type":"int16"}`},
		{decimalSchema("2", false), `{"type":"bytes","scale":2,"precision":64,"connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`},
		{&plugin.Schema{Type: plugin.Int64, Name: TimestampName, Version: 1}, `{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}`},
		{&plugin.Schema{Type: plugin.Int32, Name: DateName, Version: 1}, `{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}`},
		{&plugin.Schema{Type: plugin.Int32, Name: TimeName, Version: 1}, `{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}`},
		{&plugin.Schema{Type: plugin.StructT, Fields: []plugin.Field{
			{Name: "a", Schema: &plugin.Schema{Type: plugin.Int8}},
			{Name: "b", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
		}}, `{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[{"name":"a","type":{"type":"int","connect.type":"int8"}},{"name":"b","type":["null","string"],"default":null}]}`},
		{&plugin.Schema{Type: plugin.StructT, Name: "dbserver1.inventory.customers.Value", Fields: []plugin.Field{
			{Name: "id", Schema: &plugin.Schema{Type: plugin.Int32}},
		}}, `{"type":"record","name":"Value","namespace":"dbserver1.inventory.customers","fields":[{"name":"id","type":"int"}],"connect.name":"dbserver1.inventory.customers.Value"}`},
		{&plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.Int32}, Values: &plugin.Schema{Type: plugin.String}},
			`{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}`},
		{&plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.String}, Values: &plugin.Schema{Type: plugin.Int64, Optional: true}},
			`{"type":"map","values":["null","long"]}`},
		{&plugin.Schema{Type: plugin.StructT, Name: "R", Fields: []plugin.Field{
			{Name: "s", Schema: &plugin.Schema{Type: plugin.String, Optional: true, Default: "x"}},
			{Name: "n", Schema: &plugin.Schema{Type: plugin.Int32, Default: int64(5)}},
		}}, `{"type":"record","name":"R","fields":[{"name":"s","type":["string","null"],"default":"x"},{"name":"n","type":"int","default":5}],"connect.name":"R"}`},
	}
	for _, c := range cases {
		got, err := ToAvroSchema(c.s)
		if err != nil {
			t.Fatalf("%+v: %v", c.s, err)
		}
		if got != c.want {
			t.Errorf("ToAvroSchema:\n got %s\nwant %s", got, c.want)
		}
		if _, err := goavro.NewCodec(got); err != nil {
			t.Errorf("goavro rejects %s: %v", got, err)
		}
	}
}

func richSchema() *plugin.Schema {
	inner := &plugin.Schema{Type: plugin.StructT, Fields: []plugin.Field{
		{Name: "x", Schema: &plugin.Schema{Type: plugin.Float64}},
	}}
	optInner := &plugin.Schema{Type: plugin.StructT, Optional: true, Fields: []plugin.Field{
		{Name: "y", Schema: &plugin.Schema{Type: plugin.String}},
	}}
	return &plugin.Schema{Type: plugin.StructT, Name: "com.example.Order", Version: 3, Doc: "an order", Parameters: map[string]string{"k": "v"}, Fields: []plugin.Field{
		{Name: "id", Schema: &plugin.Schema{Type: plugin.Int64}},
		{Name: "small", Schema: &plugin.Schema{Type: plugin.Int8}},
		{Name: "mid", Schema: &plugin.Schema{Type: plugin.Int16}},
		{Name: "qty", Schema: &plugin.Schema{Type: plugin.Int32}},
		{Name: "name", Schema: &plugin.Schema{Type: plugin.String, Optional: true, Doc: "who"}},
		{Name: "price", Schema: decimalSchema("2", false)},
		{Name: "discount", Schema: decimalSchema("3", true)},
		{Name: "created", Schema: &plugin.Schema{Type: plugin.Int64, Name: TimestampName, Version: 1}},
		{Name: "day", Schema: &plugin.Schema{Type: plugin.Int32, Name: DateName, Version: 1}},
		{Name: "tod", Schema: &plugin.Schema{Type: plugin.Int32, Name: TimeName, Version: 1, Optional: true}},
		{Name: "tags", Schema: &plugin.Schema{Type: plugin.Array, Items: &plugin.Schema{Type: plugin.String}}},
		{Name: "attrs", Schema: &plugin.Schema{Type: plugin.Map, Optional: true, Keys: &plugin.Schema{Type: plugin.String}, Values: &plugin.Schema{Type: plugin.Int32}}},
		{Name: "counts", Schema: &plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.Int32}, Values: &plugin.Schema{Type: plugin.String, Optional: true}}},
		{Name: "inner", Schema: inner},
		{Name: "maybe", Schema: optInner},
		{Name: "maybe2", Schema: optInner},
		{Name: "flag", Schema: &plugin.Schema{Type: plugin.Boolean, Default: true}},
		{Name: "ratio", Schema: &plugin.Schema{Type: plugin.Float32}},
		{Name: "data", Schema: &plugin.Schema{Type: plugin.Bytes, Optional: true}},
	}}
}

func TestRoundTripThroughGoavro(t *testing.T) {
	s := richSchema()
	js, err := ToAvroSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(js)
	if err != nil {
		t.Fatalf("goavro: %v\n%s", err, js)
	}
	price := UnscaledBytes(big.NewInt(-12345)) // -123.45
	st := plugin.NewStruct(s).
		Put("id", int64(1)).Put("small", int8(-3)).Put("mid", int16(300)).Put("qty", int32(7)).
		Put("name", "ann").Put("price", price).Put("discount", UnscaledBytes(big.NewInt(250))).
		Put("created", int64(1700000000123)).Put("day", int64(19000)).Put("tod", int64(3600_000)).
		Put("tags", []any{"a", "b"}).Put("attrs", map[string]any{"k": int64(2)}).
		Put("counts", []plugin.MapEntry{{Key: int64(1), Value: "one"}, {Key: int64(2), Value: nil}}).
		Put("inner", plugin.NewStruct(s.Field("inner")).Put("x", 1.5)).
		Put("maybe", plugin.NewStruct(s.Field("maybe")).Put("y", "z")).
		Put("flag", false).Put("ratio", 0.5).Put("data", []byte{0, 1, 0xff})
	native, err := ToAvroValue(s, st)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	decoded, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromAvroValue(s, decoded)
	if err != nil {
		t.Fatal(err)
	}
	got := back.(*plugin.Struct)
	want := map[string]any{
		"id": int64(1), "small": int64(-3), "mid": int64(300), "qty": int64(7), "name": "ann",
		"price": price, "discount": UnscaledBytes(big.NewInt(250)), "created": int64(1700000000123),
		"day": int64(19000), "tod": int64(3600_000), "tags": []any{"a", "b"}, "attrs": map[string]any{"k": int64(2)},
		"counts": []plugin.MapEntry{{Key: int64(1), Value: "one"}, {Key: int64(2), Value: nil}},
		"flag":   false, "ratio": 0.5, "data": []byte{0, 1, 0xff},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got.Values[k], w) {
			t.Errorf("field %s = %#v, want %#v", k, got.Values[k], w)
		}
	}
	if in := got.Get("inner").(*plugin.Struct); in.Get("x") != 1.5 {
		t.Errorf("inner = %+v", in)
	}
	if m := got.Get("maybe").(*plugin.Struct); m.Get("y") != "z" {
		t.Errorf("maybe = %+v", m)
	}
	if got.Get("maybe2") != nil {
		t.Errorf("maybe2 = %v", got.Get("maybe2"))
	}
	// Price decodes through goavro as -123.45.
	rec := decoded.(map[string]any)
	if r := rec["price"].(*big.Rat); r.FloatString(2) != "-123.45" {
		t.Errorf("goavro price = %s", r.FloatString(2))
	}

	// The schema survives Avro and back: same Avro JSON the second time.
	cs, err := FromAvroSchema(js)
	if err != nil {
		t.Fatal(err)
	}
	js2, err := ToAvroSchema(cs)
	if err != nil {
		t.Fatal(err)
	}
	if js2 != js {
		t.Fatalf("schema round trip differs:\n%s\n%s", js, js2)
	}
	if cs.Name != "com.example.Order" || cs.Version != 3 || cs.Doc != "an order" || cs.Parameters["k"] != "v" {
		t.Fatalf("struct props = %+v", cs)
	}
	for _, f := range s.Fields {
		g := cs.Field(f.Name)
		if g == nil || g.Type != f.Schema.Type || g.Optional != f.Schema.Optional || g.Name != f.Schema.Name {
			t.Errorf("field %s: %+v vs %+v", f.Name, g, f.Schema)
		}
	}
	if cs.Field("flag").Default != true || cs.Field("small").Type != plugin.Int8 || cs.Field("counts").Keys.Type != plugin.Int32 {
		t.Errorf("details lost: %+v", cs)
	}
	// Values decode the same under the schema read back.
	back2, err := FromAvroValue(cs, decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back2.(*plugin.Struct).Values["counts"], want["counts"]) {
		t.Errorf("counts under read schema = %#v", back2.(*plugin.Struct).Values["counts"])
	}
}

func TestForeignAvro(t *testing.T) {
	js := `{"type":"record","name":"Event","namespace":"com.acme","fields":[
	  {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["Z","A","M"]}},
	  {"name":"id","type":{"type":"fixed","name":"Id","size":4}},
	  {"name":"val","type":["null","string","long","Kind"],"default":null},
	  {"name":"sub","type":{"type":"record","name":"Sub","fields":[{"name":"n","type":"int","default":3}]}},
	  {"name":"again","type":["null","Sub"],"default":null},
	  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
	  {"name":"b","type":"bytes","default":"\u00ff\u0000"}
	]}`
	s, err := FromAvroSchema(js)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "com.acme.Event" || s.Field("kind").Type != plugin.String || s.Field("kind").Parameters[EnumParam] != "com.acme.Kind" {
		t.Fatalf("schema = %+v", s)
	}
	u := s.Field("val")
	if u.Type != plugin.StructT || u.Name != UnionName || !u.Optional || len(u.Fields) != 3 || u.Fields[2].Name != "Kind" {
		t.Fatalf("union = %+v", u)
	}
	if s.Field("sub").Name != "com.acme.Sub" || s.Field("sub").Field("n").Default != int64(3) {
		t.Fatalf("sub = %+v", s.Field("sub"))
	}
	if !bytes.Equal(s.Field("b").Default.([]byte), []byte{0xff, 0}) {
		t.Fatalf("bytes default = %v", s.Field("b").Default)
	}
	if s.Field("ts").Name != TimestampName {
		t.Fatalf("ts = %+v", s.Field("ts"))
	}
	codec, err := goavro.NewCodec(js)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"kind": "A", "id": []byte{1, 2, 3, 4}, "val": goavro.Union("long", int64(9)),
		"sub": map[string]any{"n": int32(4)}, "again": goavro.Union("com.acme.Sub", map[string]any{"n": int32(5)}),
		"ts": time.UnixMilli(1700000000000), "b": []byte("x")}
	bin, err := codec.BinaryFromNative(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	nat, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromAvroValue(s, nat)
	if err != nil {
		t.Fatal(err)
	}
	st := v.(*plugin.Struct)
	if st.Get("kind") != "A" || st.Get("val").(*plugin.Struct).Get("long") != int64(9) || st.Get("ts") != int64(1700000000000) ||
		st.Get("again").(*plugin.Struct).Get("n") != int64(5) {
		t.Fatalf("value = %+v", st.Values)
	}
	// Written back with the converted schema, the bytes are the same.
	js2, err := ToAvroSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	codec2, err := goavro.NewCodec(js2)
	if err != nil {
		t.Fatalf("%v\n%s", err, js2)
	}
	if codec2.CanonicalSchema() != codec.CanonicalSchema() {
		t.Fatalf("canonical forms differ:\n%s\n%s", codec.CanonicalSchema(), codec2.CanonicalSchema())
	}
	nat2, err := ToAvroValue(s, st)
	if err != nil {
		t.Fatal(err)
	}
	bin2, err := codec2.BinaryFromNative(nil, nat2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin, bin2) {
		t.Fatalf("re-encoded bytes differ")
	}
}

func TestBadInput(t *testing.T) {
	for _, js := range []string{`{`, `"null"`, `{"type":"nope"}`, `{"type":"record","name":"R","fields":[{"name":"x","type":"R"}]}`, `["null"]`, `{"type":"array"}`} {
		if _, err := FromAvroSchema(js); err == nil {
			t.Errorf("FromAvroSchema(%s) accepted", js)
		}
	}
	s := &plugin.Schema{Type: plugin.StructT, Fields: []plugin.Field{{Name: "a", Schema: &plugin.Schema{Type: plugin.Int8}}}}
	for _, v := range []any{"str", map[string]any{"a": int64(1000)}, map[string]any{}, nil} {
		if _, err := ToAvroValue(s, v); err == nil {
			t.Errorf("ToAvroValue(%#v) accepted", v)
		}
	}
	if _, err := ToAvroSchema(&plugin.Schema{Type: plugin.Bytes, Name: DecimalName}); err == nil {
		t.Error("decimal without scale accepted")
	}
	if _, err := ToAvroSchema(&plugin.Schema{Type: "weird"}); err == nil {
		t.Error("unknown type accepted")
	}
}

func TestUnscaledBytes(t *testing.T) {
	for _, n := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, -32768, 1 << 40, -(1 << 40)} {
		b := UnscaledBytes(big.NewInt(n))
		if got := Unscaled(b).Int64(); got != n {
			t.Errorf("%d -> %x -> %d", n, b, got)
		}
	}
	// Java's BigInteger.toByteArray: 128 is 00 80, -129 is ff 7f.
	if b := UnscaledBytes(big.NewInt(128)); !bytes.Equal(b, []byte{0, 0x80}) {
		t.Errorf("128 = %x", b)
	}
	if b := UnscaledBytes(big.NewInt(-129)); !bytes.Equal(b, []byte{0xff, 0x7f}) {
		t.Errorf("-129 = %x", b)
	}
	if b := UnscaledBytes(big.NewInt(-128)); !bytes.Equal(b, []byte{0x80}) {
		t.Errorf("-128 = %x", b)
	}
}

func FuzzFromAvroSchema(f *testing.F) {
	f.Add(`{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"]}]}`)
	f.Add(`{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}`)
	f.Fuzz(func(t *testing.T, js string) {
		s, err := FromAvroSchema(js)
		if err != nil {
			return
		}
		out, err := ToAvroSchema(s)
		if err == nil && !json.Valid([]byte(out)) {
			t.Fatalf("invalid JSON %s", out)
		}
	})
}

func TestDefaultsThroughGoavro(t *testing.T) {
	inner := &plugin.Schema{Type: plugin.StructT, Name: "x.Inner", Fields: []plugin.Field{{Name: "a", Schema: &plugin.Schema{Type: plugin.Int32}}}}
	innerDef := *inner
	innerDef.Default = plugin.NewStruct(inner).Put("a", int64(7))
	s := &plugin.Schema{Type: plugin.StructT, Name: "x.Outer", Fields: []plugin.Field{
		{Name: "in", Schema: &innerDef},
		{Name: "list", Schema: &plugin.Schema{Type: plugin.Array, Items: &plugin.Schema{Type: plugin.String}, Default: []any{"p", "q"}}},
		{Name: "price", Schema: &plugin.Schema{Type: plugin.Bytes, Name: DecimalName, Parameters: map[string]string{"scale": "1"}, Default: UnscaledBytes(big.NewInt(15))}},
		{Name: "raw", Schema: &plugin.Schema{Type: plugin.Bytes, Default: []byte{0xff, 0}}},
		{Name: "m", Schema: &plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.Int64}, Values: &plugin.Schema{Type: plugin.Boolean}, Default: []plugin.MapEntry{{Key: int64(1), Value: true}}}},
	}}
	js, err := ToAvroSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(js)
	if err != nil {
		t.Fatalf("goavro: %v\n%s", err, js)
	}
	back, err := FromAvroSchema(js)
	if err != nil {
		t.Fatal(err)
	}
	if d := back.Field("in").Default.(*plugin.Struct); d.Get("a") != int64(7) {
		t.Fatalf("struct default = %+v", d)
	}
	if !reflect.DeepEqual(back.Field("list").Default, []any{"p", "q"}) || !bytes.Equal(back.Field("raw").Default.([]byte), []byte{0xff, 0}) ||
		Unscaled(back.Field("price").Default.([]byte)).Int64() != 15 {
		t.Fatalf("defaults = %+v", back.Fields)
	}
	if !reflect.DeepEqual(back.Field("m").Default, []plugin.MapEntry{{Key: int64(1), Value: true}}) {
		t.Fatalf("map default = %#v", back.Field("m").Default)
	}
	// A missing required value takes its default when written.
	native, err := ToAvroValue(s, plugin.NewStruct(s))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.BinaryFromNative(nil, native); err != nil {
		t.Fatal(err)
	}
}
