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
