package s3sink

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/sluicehq/sluice/connect/plugin"
)

func jsonSamples() []any {
	inner := &plugin.Schema{Type: plugin.StructT, Fields: []plugin.Field{{Name: "a<b", Schema: &plugin.Schema{Type: plugin.String}}}}
	return []any{
		nil, true, false, int64(-1 << 62), int32(7), int16(-3), int8(9), 0, uint16(5), 3.0, -0.5, 1e-7, 1e21, 1e20, 123456789.125,
		float32(0.1), float32(1e-7), float32(3e38), math.SmallestNonzeroFloat64, -math.MaxFloat64,
		"", "plain", "quote\" back\\slash", "<html>&", "tab\tnl\nbell\x07", "caf\u00e9 \u2028 \u2029", "bad \xff utf8", "del\x7f",
		[]byte(nil), []byte{}, []byte{0, 1, 2, 250}, []any(nil), []any{}, []any{int64(1), "x", nil, []any{2.5}},
		map[string]any(nil), map[string]any{}, map[string]any{"z": int64(1), "a": map[string]any{"&": true}, "m": []any{}},
		plugin.NewStruct(orderSchema).Put("id", int64(1)).Put("item", "x\"y").Put("price", 2.5),
		plugin.NewStruct(orderSchema).Put("id", int64(2)), // unset fields are null
		plugin.NewStruct(&plugin.Schema{Type: plugin.StructT}).Put("b", int64(1)).Put("a", plugin.NewStruct(inner).Put("a<b", "c")),
		(*plugin.Struct)(nil),
		[]plugin.MapEntry{{Key: int64(1), Value: "one"}},
		map[int]string{2: "two", 1: "one"},
		struct{ X int }{3},
	}
}

// appendJSON writes what encoding/json (and Struct.MarshalJSON) writes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, v := range jsonSamples() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		got, err := appendJSON([]byte("x"), v)
		if err != nil || !bytes.Equal(got[1:], want) {
			t.Errorf("%#v:\n got %s (%v)\nwant %s", v, got[1:], err, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1)), []any{math.NaN()}} {
		if _, err := appendJSON(nil, v); err == nil {
			t.Errorf("%v: no error", v)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("x<y", 1.5, int64(3))
	f.Add("\u2028\xff", 1e-7, int64(-1))
	f.Fuzz(func(t *testing.T, s string, x float64, i int64) {
		v := map[string]any{s: []any{s, x, i, float32(x)}}
		want, err := json.Marshal(v)
		got, gerr := appendJSON(nil, v)
		if (err == nil) != (gerr == nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("got %s (%v), want %s (%v)", got, gerr, want, err)
		}
	})
}

func TestArena(t *testing.T) {
	var a arena
	var kept [][]byte
	for i := 0; i < 3000; i++ {
		n := 1 + i%700
		if i%997 == 0 {
			n = 40 << 10 // outgrows a chunk's spare room
		}
		b := append(a.free(), bytes.Repeat([]byte{byte(i)}, n)...)
		kept = append(kept, a.keep(b))
	}
	for i, b := range kept {
		n := 1 + i%700
		if i%997 == 0 {
			n = 40 << 10
		}
		if len(b) != n || cap(b) != n || b[0] != byte(i) || b[n-1] != byte(i) {
			t.Fatalf("slice %d: len %d cap %d", i, len(b), cap(b))
		}
	}
}
