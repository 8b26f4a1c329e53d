package runtime

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connect/plugin"
)

func chain(t *testing.T, cfg map[string]string) *Chain {
	t.Helper()
	c, errs := BuildChain(cfg)
	if len(errs) > 0 {
		t.Fatalf("chain errors: %v", errs)
	}
	return c
}

func rec() *Record {
	return &Record{Topic: "orders", Partition: 2, Offset: 9, Key: "k",
		Value:     map[string]any{"id": int64(1), "card": "4111", "amount": "12.5", "name": "ann"},
		Timestamp: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

const tp = "org.apache.kafka.connect.transforms."

func TestTransforms(t *testing.T) {
	cases := []struct {
		name string
		cfg  map[string]string
		want func(r *Record) bool
	}{
		{"InsertField", map[string]string{"transforms": "a", "transforms.a.type": tp + "InsertField$Value",
			"transforms.a.topic.field": "t", "transforms.a.offset.field": "o", "transforms.a.static.field": "src", "transforms.a.static.value": "sluice"},
			func(r *Record) bool {
				v := r.Value.(map[string]any)
				return v["t"] == "orders" && v["o"] == int64(9) && v["src"] == "sluice"
			}},
		{"ReplaceField", map[string]string{"transforms": "a", "transforms.a.type": tp + "ReplaceField$Value",
			"transforms.a.exclude": "card", "transforms.a.renames": "name:customer"},
			func(r *Record) bool {
				v := r.Value.(map[string]any)
				_, card := v["card"]
				return !card && v["customer"] == "ann" && v["name"] == nil
			}},
		{"ReplaceField include", map[string]string{"transforms": "a", "transforms.a.type": tp + "ReplaceField$Value", "transforms.a.include": "id"},
			func(r *Record) bool { return reflect.DeepEqual(r.Value, map[string]any{"id": int64(1)}) }},
		{"MaskField", map[string]string{"transforms": "a", "transforms.a.type": tp + "MaskField$Value", "transforms.a.fields": "card,id"},
			func(r *Record) bool {
				v := r.Value.(map[string]any)
				return v["card"] == "" && v["id"] == int64(0)
			}},
		{"MaskField replacement", map[string]string{"transforms": "a", "transforms.a.type": tp + "MaskField$Value", "transforms.a.fields": "card", "transforms.a.replacement": "****"},
			func(r *Record) bool { return r.Value.(map[string]any)["card"] == "****" }},
		{"ValueToKey+ExtractField", map[string]string{"transforms": "a,b", "transforms.a.type": tp + "ValueToKey", "transforms.a.fields": "id",
			"transforms.b.type": tp + "ExtractField$Key", "transforms.b.field": "id"},
			func(r *Record) bool { return r.Key == int64(1) }},
		{"Cast", map[string]string{"transforms": "a", "transforms.a.type": tp + "Cast$Value", "transforms.a.spec": "amount:float64,id:string"},
			func(r *Record) bool {
				v := r.Value.(map[string]any)
				return v["amount"] == 12.5 && v["id"] == "1"
			}},
		{"TimestampRouter", map[string]string{"transforms": "a", "transforms.a.type": tp + "TimestampRouter", "transforms.a.timestamp.format": "yyyy-MM-dd"},
			func(r *Record) bool { return r.Topic == "orders-2026-11-22" }},
		{"RegexRouter", map[string]string{"transforms": "a", "transforms.a.type": tp + "RegexRouter", "transforms.a.regex": "(ord)ers", "transforms.a.replacement": "$1-v2"},
			func(r *Record) bool { return r.Topic == "ord-v2" }},
		{"Filter with TopicNameMatches", map[string]string{"transforms": "f", "transforms.f.type": tp + "Filter", "transforms.f.predicate": "p",
			"predicates": "p", "predicates.p.type": tp + "predicates.TopicNameMatches", "predicates.p.pattern": "ord.*"},
			func(r *Record) bool { return r == nil }},
		{"Filter negated", map[string]string{"transforms": "f", "transforms.f.type": tp + "Filter", "transforms.f.predicate": "p", "transforms.f.negate": "true",
			"predicates": "p", "predicates.p.type": tp + "predicates.TopicNameMatches", "predicates.p.pattern": "ord.*"},
			func(r *Record) bool { return r != nil }},
		{"HasHeaderKey", map[string]string{"transforms": "f", "transforms.f.type": tp + "Filter", "transforms.f.predicate": "p",
			"predicates": "p", "predicates.p.type": tp + "predicates.HasHeaderKey", "predicates.p.name": "skip"},
			func(r *Record) bool { return r != nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := rec()
			out, err := chain(t, c.cfg).Apply(in)
			if err != nil {
				t.Fatal(err)
			}
			if !c.want(out) {
				t.Fatalf("got %+v", out)
			}
			if _, ok := in.Value.(map[string]any)["card"]; !ok {
				t.Fatal("transform mutated its input")
			}
		})
	}
}

func TestTombstonePredicate(t *testing.T) {
	c := chain(t, map[string]string{"transforms": "f", "transforms.f.type": tp + "Filter", "transforms.f.predicate": "ts",
		"predicates": "ts", "predicates.ts.type": tp + "predicates.RecordIsTombstone"})
	r := rec()
	r.Headers = []plugin.Header{{Key: "skip"}}
	if out, _ := c.Apply(r); out == nil {
		t.Fatal("non-tombstone dropped")
	}
	r.Value = nil
	if out, _ := c.Apply(r); out != nil {
		t.Fatal("tombstone kept")
	}
}

func TestBadTransformSettings(t *testing.T) {
	for name, cfg := range map[string]map[string]string{
		"no type":       {"transforms": "a"},
		"unknown":       {"transforms": "a", "transforms.a.type": "com.example.X"},
		"no variant":    {"transforms": "a", "transforms.a.type": tp + "InsertField"},
		"bad cast":      {"transforms": "a", "transforms.a.type": tp + "Cast$Value", "transforms.a.spec": "x:decimal"},
		"bad regex":     {"transforms": "a", "transforms.a.type": tp + "RegexRouter", "transforms.a.regex": "(", "transforms.a.replacement": "x"},
		"mask no field": {"transforms": "a", "transforms.a.type": tp + "MaskField$Value"},
		"bad rename":    {"transforms": "a", "transforms.a.type": tp + "ReplaceField$Value", "transforms.a.renames": "a"},
		"bad predicate": {"predicates": "p", "predicates.p.type": tp + "predicates.Nope"},
	} {
		if _, errs := BuildChain(cfg); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
	// A transform that cannot handle a record fails with an error.
	c := chain(t, map[string]string{"transforms": "a", "transforms.a.type": tp + "Cast$Value", "transforms.a.spec": "name:int32"})
	if _, err := c.Apply(rec()); err == nil {
		t.Fatal("bad cast did not fail")
	}
}

func TestExprTransform(t *testing.T) {
	c := chain(t, map[string]string{"transforms": "e", "transforms.e.type": ExprTransformClass,
		"transforms.e.filter": `value.name != "bob"`,
		"transforms.e.topic":  `topic + "-" + value.name`,
		"transforms.e.value":  `{"id": value.id * 10, "who": upper(value.name)}`,
		"transforms.e.key":    `value.id`})
	out, err := c.Apply(rec())
	if err != nil {
		t.Fatal(err)
	}
	if out.Topic != "orders-ann" || out.Key != int64(1) || !reflect.DeepEqual(out.Value, map[string]any{"id": int64(10), "who": "ANN"}) {
		t.Fatalf("got %+v", out)
	}
	r := rec()
	r.Value.(map[string]any)["name"] = "bob"
	if out, err := c.Apply(r); err != nil || out != nil {
		t.Fatalf("filter kept bob: %+v %v", out, err)
	}
	for _, bad := range []map[string]string{
		{"transforms": "e", "transforms.e.type": ExprTransformClass},
		{"transforms": "e", "transforms.e.type": ExprTransformClass, "transforms.e.filter": "value +"},
		{"transforms": "e", "transforms.e.type": ExprTransformClass, "transforms.e.filter": `"not a bool"`},
	} {
		if _, errs := BuildChain(bad); len(errs) == 0 {
			t.Errorf("accepted %v", bad)
		}
	}
}

func structRec() *Record {
	s := &plugin.Schema{Type: plugin.StructT, Name: "shop.Order", Version: 2, Fields: []plugin.Field{
		{Name: "id", Schema: &plugin.Schema{Type: plugin.Int64}},
		{Name: "card", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
		{Name: "amount", Schema: &plugin.Schema{Type: plugin.String}},
		{Name: "qty", Schema: &plugin.Schema{Type: plugin.Int32}},
	}}
	return &Record{Topic: "orders", Partition: 2, Offset: 9, Key: "k", ValueSchema: s,
		Value:     plugin.NewStruct(s).Put("id", int64(1)).Put("card", "4111").Put("amount", "12.5").Put("qty", int64(3)),
		Timestamp: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func fieldNames(s *plugin.Schema) []string {
	var out []string
	for _, f := range s.Fields {
		out = append(out, f.Name)
	}
	return out
}

func TestTransformsOnStructs(t *testing.T) {
	cases := []struct {
		name  string
		cfg   map[string]string
		check func(t *testing.T, in, out *Record)
	}{
		{"InsertField", map[string]string{"transforms": "a", "transforms.a.type": tp + "InsertField$Value",
			"transforms.a.topic.field": "t!", "transforms.a.offset.field": "o", "transforms.a.timestamp.field": "ts", "transforms.a.static.field": "src", "transforms.a.static.value": "sluice"},
			func(t *testing.T, in, out *Record) {
				st := out.Value.(*plugin.Struct)
				s := out.ValueSchema
				if st.Schema != s || s.Name != "shop.Order" || s.Version != 2 || !reflect.DeepEqual(fieldNames(s), []string{"id", "card", "amount", "qty", "t", "o", "ts", "src"}) {
					t.Fatalf("schema = %+v", s)
				}
				if s.Field("t").Optional || !s.Field("o").Optional || s.Field("o").Type != plugin.Int64 || s.Field("ts").Name != "org.apache.kafka.connect.data.Timestamp" {
					t.Fatalf("inserted field schemas wrong: %+v", s.Fields)
				}
				if st.Get("t") != "orders" || st.Get("o") != int64(9) || st.Get("src") != "sluice" || st.Get("ts") != in.Timestamp.UnixMilli() || st.Get("id") != int64(1) {
					t.Fatalf("values = %v", st.Values)
				}
				if len(in.ValueSchema.Fields) != 4 || in.Value.(*plugin.Struct).Get("t") != nil {
					t.Fatal("input changed")
				}
			}},
		{"ReplaceField", map[string]string{"transforms": "a", "transforms.a.type": tp + "ReplaceField$Value",
			"transforms.a.exclude": "card", "transforms.a.renames": "amount:total"},
			func(t *testing.T, in, out *Record) {
				st := out.Value.(*plugin.Struct)
				if !reflect.DeepEqual(fieldNames(out.ValueSchema), []string{"id", "total", "qty"}) || st.Get("total") != "12.5" || st.Get("card") != nil {
					t.Fatalf("got %+v %v", out.ValueSchema, st.Values)
				}
			}},
		{"MaskField", map[string]string{"transforms": "a", "transforms.a.type": tp + "MaskField$Value", "transforms.a.fields": "card,qty"},
			func(t *testing.T, in, out *Record) {
				st := out.Value.(*plugin.Struct)
				if st.Get("card") != "" || st.Get("qty") != int64(0) || out.ValueSchema != in.ValueSchema {
					t.Fatalf("got %v", st.Values)
				}
			}},
		{"MaskField replacement", map[string]string{"transforms": "a", "transforms.a.type": tp + "MaskField$Value", "transforms.a.fields": "card", "transforms.a.replacement": "****"},
			func(t *testing.T, in, out *Record) {
				if out.Value.(*plugin.Struct).Get("card") != "****" {
					t.Fatal("not replaced")
				}
			}},
		{"ValueToKey+ExtractField", map[string]string{"transforms": "a,b,c", "transforms.a.type": tp + "ValueToKey", "transforms.a.fields": "id,qty",
			"transforms.b.type": tp + "ExtractField$Key", "transforms.b.field": "id", "transforms.c.type": tp + "ExtractField$Value", "transforms.c.field": "amount"},
			func(t *testing.T, in, out *Record) {
				if out.Key != int64(1) || out.KeySchema.Type != plugin.Int64 || out.Value != "12.5" || out.ValueSchema.Type != plugin.String {
					t.Fatalf("got key %v (%+v) value %v (%+v)", out.Key, out.KeySchema, out.Value, out.ValueSchema)
				}
			}},
		{"ValueToKey struct key", map[string]string{"transforms": "a", "transforms.a.type": tp + "ValueToKey", "transforms.a.fields": "id,qty"},
			func(t *testing.T, in, out *Record) {
				k := out.Key.(*plugin.Struct)
				if !reflect.DeepEqual(fieldNames(out.KeySchema), []string{"id", "qty"}) || k.Get("qty") != int64(3) || k.Schema != out.KeySchema {
					t.Fatalf("key = %+v", k)
				}
			}},
		{"Cast", map[string]string{"transforms": "a", "transforms.a.type": tp + "Cast$Value", "transforms.a.spec": "amount:float64,id:string,qty:boolean"},
			func(t *testing.T, in, out *Record) {
				st := out.Value.(*plugin.Struct)
				s := out.ValueSchema
				if s.Field("amount").Type != plugin.Float64 || s.Field("id").Type != plugin.String || s.Field("qty").Type != plugin.Boolean || s.Field("card").Type != plugin.String {
					t.Fatalf("schema = %+v", s.Fields)
				}
				if st.Get("amount") != 12.5 || st.Get("id") != "1" || st.Get("qty") != true {
					t.Fatalf("values = %v", st.Values)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := structRec()
			out, err := chain(t, c.cfg).Apply(in)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, in, out)
			// Schemas are derived once per input schema.
			out2, err := chain(t, c.cfg).Apply(structRec())
			if err != nil || out2 == nil {
				t.Fatal(err)
			}
		})
	}
	// Cached: one chain, two records of the same schema share the output schema.
	ch := chain(t, map[string]string{"transforms": "a", "transforms.a.type": tp + "InsertField$Value", "transforms.a.static.field": "x", "transforms.a.static.value": "y"})
	in := structRec()
	a, _ := ch.Apply(in)
	in2 := *in
	b, _ := ch.Apply(&in2)
	if a.ValueSchema != b.ValueSchema {
		t.Fatal("output schema rebuilt for the same input schema")
	}
	// Errors instead of panics.
	bad := structRec()
	bad.Value = "not a struct"
	if _, err := chain(t, map[string]string{"transforms": "a", "transforms.a.type": tp + "ReplaceField$Value", "transforms.a.exclude": "x"}).Apply(bad); err == nil {
		t.Fatal("string under a struct schema accepted")
	}
	if _, err := chain(t, map[string]string{"transforms": "a", "transforms.a.type": tp + "ExtractField$Value", "transforms.a.field": "nope"}).Apply(structRec()); err == nil {
		t.Fatal("unknown field extracted")
	}
	// Cast of a whole primitive value with its schema.
	r := &Record{Topic: "t", ValueSchema: &plugin.Schema{Type: plugin.String}, Value: "42"}
	out, err := chain(t, map[string]string{"transforms": "a", "transforms.a.type": tp + "Cast$Value", "transforms.a.spec": "int32"}).Apply(r)
	if err != nil || out.Value != int64(42) || out.ValueSchema.Type != plugin.Int32 {
		t.Fatalf("whole cast = %v %+v %v", out.Value, out.ValueSchema, err)
	}
	// Expressions see Struct fields by name.
	out, err = chain(t, map[string]string{"transforms": "e", "transforms.e.type": ExprTransformClass, "transforms.e.filter": "value.qty > 2", "transforms.e.value": `{"n": value.id}`}).Apply(structRec())
	if err != nil || out == nil || !reflect.DeepEqual(out.Value, map[string]any{"n": int64(1)}) || out.ValueSchema != nil {
		t.Fatalf("expr = %+v %v", out, err)
	}
}
