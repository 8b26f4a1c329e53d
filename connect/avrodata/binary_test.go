package avrodata

import (
	"bytes"
	"math/big"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/connect/plugin"
)

// sameAsGoavro checks that AppendBinary writes the bytes goavro writes for
// ToAvroValue's result, and that goavro reads them back.
func sameAsGoavro(t *testing.T, s *plugin.Schema, v any) {
	t.Helper()
	js, err := ToAvroSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(js)
	if err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	native, err := ToAvroValue(s, v)
	if err != nil {
		t.Fatal(err)
	}
	want, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendBinary([]byte("prefix"), s, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
		t.Fatalf("AppendBinary\n got %x\nwant %x", got[6:], want)
	}
	if _, rest, err := codec.NativeFromBinary(got[6:]); err != nil || len(rest) != 0 {
		t.Fatalf("goavro reads %v, %d bytes left", err, len(rest))
	}
}

func TestAppendBinaryMatchesGoavro(t *testing.T) {
	s := richSchema()
	full := plugin.NewStruct(s).
		Put("id", int64(-1)).Put("small", int8(-128)).Put("mid", int16(300)).Put("qty", int32(7)).
		Put("name", "ann").Put("price", UnscaledBytes(big.NewInt(-12345))).Put("discount", UnscaledBytes(big.NewInt(-32768))).
		Put("created", time.UnixMilli(1700000000123)).Put("day", time.Unix(19000*86400, 0)).Put("tod", 3600*time.Second).
		Put("tags", []any{"a", "b", ""}).Put("attrs", map[string]any{"k": int64(2)}).
		Put("counts", []plugin.MapEntry{{Key: int64(1), Value: "one"}, {Key: int64(2), Value: nil}}).
		Put("inner", plugin.NewStruct(s.Field("inner")).Put("x", 1.5)).
		Put("maybe", plugin.NewStruct(s.Field("maybe")).Put("y", "z")).
		Put("flag", false).Put("ratio", float32(0.25)).Put("data", []byte{0, 1, 0xff})
	sameAsGoavro(t, s, full)
	// Unset optional fields, a defaulted one, empty collections, a map
	// given as a struct and a string decimal.
	sparse := plugin.NewStruct(s).Put("id", int64(1<<40)).Put("small", int8(3)).Put("mid", int16(-3)).Put("qty", int32(-7)).
		Put("price", "12.5").Put("created", int64(0)).Put("day", int32(0)).Put("tags", []string{}).
		Put("counts", map[int32]string{}).Put("inner", map[string]any{"x": int64(2)}).Put("ratio", 1e30)
	sameAsGoavro(t, s, sparse)

	// Foreign shapes: enum, fixed, a multi-member union, [T, null] with a
	// default, a union of records.
	js := `{"type":"record","name":"Event","namespace":"com.acme","fields":[
	  {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["Z","A","M"]}},
	  {"name":"id","type":{"type":"fixed","name":"Id","size":4}},
	  {"name":"val","type":["null","string","long","Kind"],"default":null},
	  {"name":"sub","type":{"type":"record","name":"Sub","fields":[{"name":"n","type":"int","default":3}]}},
	  {"name":"again","type":["null","Sub"],"default":null},
	  {"name":"later","type":["string","null"],"default":"x"},
	  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}
	]}`
	fs, err := FromAvroSchema(js)
	if err != nil {
		t.Fatal(err)
	}
	union := func(branch string, v any) *plugin.Struct { return plugin.NewStruct(fs.Field("val")).Put(branch, v) }
	for _, val := range []any{nil, union("string", "s"), union("long", int64(-5)), union("Kind", "M")} {
		for _, later := range []any{nil, "y"} {
			v := plugin.NewStruct(fs).Put("kind", "A").Put("id", []byte{1, 2, 3, 4}).Put("val", val).
				Put("sub", plugin.NewStruct(fs.Field("sub")).Put("n", int64(4))).Put("later", later).Put("ts", int64(7))
			sameAsGoavro(t, fs, v)
		}
	}
}

func TestAppendBinaryErrors(t *testing.T) {
	s := richSchema()
	for name, v := range map[string]any{
		"missing required": plugin.NewStruct(s),
		"not a struct":     "x",
		"small overflows":  plugin.NewStruct(s).Put("id", int64(1)).Put("small", int64(200)),
	} {
		if _, err := AppendBinary(nil, s, v); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	enum, err := FromAvroSchema(`{"type":"enum","name":"K","symbols":["A","B"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppendBinary(nil, enum, "C"); err == nil {
		t.Error("enum: no error for an unknown symbol")
	}
}

// Maps are written in key order, so the bytes do not depend on Go's map
// order; goavro reads back every entry.
func TestAppendBinaryMapOrder(t *testing.T) {
	s := &plugin.Schema{Type: plugin.Map, Keys: &plugin.Schema{Type: plugin.String}, Values: &plugin.Schema{Type: plugin.Int64}}
	m := map[string]any{}
	for i := 0; i < 50; i++ {
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = int64(i)
	}
	first, err := AppendBinary(nil, s, m)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, _ := AppendBinary(nil, s, m)
		if !bytes.Equal(again, first) {
			t.Fatal("map bytes differ between runs")
		}
	}
	js, _ := ToAvroSchema(s)
	codec, _ := goavro.NewCodec(js)
	back, _, err := codec.NativeFromBinary(first)
	if err != nil || len(back.(map[string]any)) != 50 || back.(map[string]any)["bb"] != int64(27) {
		t.Fatalf("read back %v %v", back, err)
	}
}
