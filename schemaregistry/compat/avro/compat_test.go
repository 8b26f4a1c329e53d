package avro

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/schemaregistry/compat"
)

func rec(name string, fields ...string) string {
	return `{"type":"record","name":"` + name + `","fields":[` + strings.Join(fields, ",") + `]}`
}

func fld(name, typ string, extra ...string) string {
	s := `{"name":"` + name + `","type":` + typ
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

const (
	enumABC  = `{"type":"enum","name":"E","symbols":["A","B","C"]}`
	enumAB   = `{"type":"enum","name":"E","symbols":["A","B"]}`
	enumABd  = `{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`
	enumF    = `{"type":"enum","name":"F","symbols":["A","B"]}`
	fixed4   = `{"type":"fixed","name":"F4","size":4}`
	fixed8   = `{"type":"fixed","name":"F4","size":8}`
	fixedG   = `{"type":"fixed","name":"G4","size":4}`
	linked   = `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`
	linkedL  = `{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"],"default":null}]}`
	linkedX  = `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null},{"name":"w","type":"int"}]}`
	nsRecA   = `{"type":"record","name":"R","namespace":"a","fields":[{"name":"f","type":"int"}]}`
	nsRecB   = `{"type":"record","name":"R","namespace":"b","fields":[{"name":"f","type":"int"}]}`
	aliasRec = `{"type":"record","name":"New","aliases":["Old"],"fields":[{"name":"f","type":"int"}]}`
)

// resolutionCases are reader/writer pairs from the Avro specification's
// "Schema Resolution" section. read: the reader reads the writer's data;
// reverse: the writer's schema reads the reader's data.
var resolutionCases = []struct {
	name           string
	writer, reader string
	read, reverse  bool
}{
	// Primitives: same type.
	{"null=null", `"null"`, `"null"`, true, true},
	{"boolean=boolean", `"boolean"`, `"boolean"`, true, true},
	{"int=int", `"int"`, `"int"`, true, true},
	{"long=long", `"long"`, `"long"`, true, true},
	{"float=float", `"float"`, `"float"`, true, true},
	{"double=double", `"double"`, `"double"`, true, true},
	{"bytes=bytes", `"bytes"`, `"bytes"`, true, true},
	{"string=string", `"string"`, `"string"`, true, true},
	{"object form of primitive", `{"type":"string"}`, `"string"`, true, true},
	// Promotions.
	{"int->long", `"int"`, `"long"`, true, false},
	{"int->float", `"int"`, `"float"`, true, false},
	{"int->double", `"int"`, `"double"`, true, false},
	{"long->float", `"long"`, `"float"`, true, false},
	{"long->double", `"long"`, `"double"`, true, false},
	{"float->double", `"float"`, `"double"`, true, false},
	{"string->bytes", `"string"`, `"bytes"`, true, true},
	{"bytes->string", `"bytes"`, `"string"`, true, true},
	// Mismatches.
	{"int vs string", `"int"`, `"string"`, false, false},
	{"boolean vs int", `"boolean"`, `"int"`, false, false},
	{"null vs int", `"null"`, `"int"`, false, false},
	{"double vs float", `"double"`, `"float"`, false, true},
	{"long vs int", `"long"`, `"int"`, false, true},
	{"string vs record", `"string"`, rec("R"), false, false},
	{"array vs map", `{"type":"array","items":"int"}`, `{"type":"map","values":"int"}`, false, false},
	// Records: fields by name, defaults for missing reader fields.
	{"record same", rec("R", fld("a", `"int"`)), rec("R", fld("a", `"int"`)), true, true},
	{"record add field with default", rec("R", fld("a", `"int"`)), rec("R", fld("a", `"int"`), fld("b", `"string"`, `"default":"x"`)), true, true},
	{"record add field without default", rec("R", fld("a", `"int"`)), rec("R", fld("a", `"int"`), fld("b", `"string"`)), false, true},
	{"record remove field with default", rec("R", fld("a", `"int"`), fld("b", `"int"`, `"default":0`)), rec("R", fld("a", `"int"`)), true, true},
	{"record remove field without default", rec("R", fld("a", `"int"`), fld("b", `"int"`)), rec("R", fld("a", `"int"`)), true, false},
	{"record field promoted", rec("R", fld("a", `"int"`)), rec("R", fld("a", `"long"`)), true, false},
	{"record field type changed", rec("R", fld("a", `"int"`)), rec("R", fld("a", `"string"`)), false, false},
	{"record renamed", rec("R", fld("a", `"int"`)), rec("S", fld("a", `"int"`)), false, false},
	{"record name with namespace change", nsRecA, nsRecB, true, true},
	{"record reader alias", rec("Old", fld("f", `"int"`)), aliasRec, true, false},
	{"field reader alias", rec("R", fld("old", `"int"`)), rec("R", fld("new", `"int"`, `"aliases":["old"]`)), true, false},
	{"field renamed without alias", rec("R", fld("old", `"int"`)), rec("R", fld("new", `"int"`)), false, false},
	{"field renamed with default", rec("R", fld("old", `"int"`)), rec("R", fld("new", `"int"`, `"default":1`)), true, false},
	{"fields reordered", rec("R", fld("a", `"int"`), fld("b", `"string"`)), rec("R", fld("b", `"string"`), fld("a", `"int"`)), true, true},
	{"empty records", rec("R"), rec("R"), true, true},
	{"nested record field changed", rec("R", fld("n", rec("N", fld("x", `"int"`)))), rec("R", fld("n", rec("N", fld("x", `"long"`)))), true, false},
	{"nested record field added no default", rec("R", fld("n", rec("N", fld("x", `"int"`)))), rec("R", fld("n", rec("N", fld("x", `"int"`), fld("y", `"int"`)))), false, true},
	{"null default of optional field", rec("R"), rec("R", fld("o", `["null","string"]`, `"default":null`)), true, true},
	// Enums.
	{"enum same", enumAB, enumAB, true, true},
	{"enum symbol added", enumAB, enumABC, true, false},
	{"enum symbol removed", enumABC, enumAB, false, true},
	{"enum symbol removed, reader default", enumABC, enumABd, true, true},
	{"enum renamed", enumAB, enumF, false, false},
	{"enum vs string", enumAB, `"string"`, false, false},
	// Fixed.
	{"fixed same", fixed4, fixed4, true, true},
	{"fixed size changed", fixed4, fixed8, false, false},
	{"fixed renamed", fixed4, fixedG, false, false},
	{"fixed vs bytes", fixed4, `"bytes"`, false, false},
	// Arrays and maps resolve their items and values.
	{"array items promoted", `{"type":"array","items":"int"}`, `{"type":"array","items":"long"}`, true, false},
	{"array items mismatch", `{"type":"array","items":"int"}`, `{"type":"array","items":"string"}`, false, false},
	{"map values promoted", `{"type":"map","values":"float"}`, `{"type":"map","values":"double"}`, true, false},
	{"map values mismatch", `{"type":"map","values":"int"}`, `{"type":"map","values":"boolean"}`, false, false},
	{"array of records field added", `{"type":"array","items":` + rec("R", fld("a", `"int"`)) + `}`, `{"type":"array","items":` + rec("R", fld("a", `"int"`), fld("b", `"int"`)) + `}`, false, true},
	// Unions.
	{"union same", `["null","string"]`, `["null","string"]`, true, true},
	{"union branch added", `["null","string"]`, `["null","string","int"]`, true, false},
	{"union branch removed", `["null","string","int"]`, `["null","string"]`, false, true},
	{"writer plain, reader union containing it", `"string"`, `["null","string"]`, true, false},
	{"writer union, reader plain", `["null","string"]`, `"string"`, false, true},
	{"writer plain, reader union by promotion", `"int"`, `["null","long"]`, true, false},
	{"writer union all promotable", `["int","long"]`, `"double"`, true, false},
	{"union reordered", `["null","string"]`, `["string","null"]`, true, true},
	{"union of records field added with default", `["null",` + rec("R", fld("a", `"int"`)) + `]`, `["null",` + rec("R", fld("a", `"int"`), fld("b", `"int"`, `"default":1`)) + `]`, true, true},
	{"union record renamed", `["null",` + rec("R") + `]`, `["null",` + rec("S") + `]`, false, false},
	// Recursive types.
	{"recursive same", linked, linked, true, true},
	{"recursive promoted", linked, linkedL, true, false},
	{"recursive field added without default", linked, linkedX, false, true},
}

// TestResolutionTable checks every case directly and under all seven levels.
func TestResolutionTable(t *testing.T) {
	if len(resolutionCases) < 60 {
		t.Fatalf("only %d cases", len(resolutionCases))
	}
	for _, tc := range resolutionCases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Parse(tc.writer, nil)
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			r, err := Parse(tc.reader, nil)
			if err != nil {
				t.Fatalf("reader: %v", err)
			}
			if got := CanRead(r, w); (len(got) == 0) != tc.read {
				t.Errorf("reader reads writer = %v, want %v: %v", len(got) == 0, tc.read, got)
			}
			if got := CanRead(w, r); (len(got) == 0) != tc.reverse {
				t.Errorf("writer reads reader = %v, want %v: %v", len(got) == 0, tc.reverse, got)
			}
			// As a registry sees it: old = writer, new = reader.
			for _, lv := range compat.Levels {
				want := true
				switch lv {
				case compat.Backward, compat.BackwardTransitive:
					want = tc.read
				case compat.Forward, compat.ForwardTransitive:
					want = tc.reverse
				case compat.Full, compat.FullTransitive:
					want = tc.read && tc.reverse
				}
				probs := compat.Check(lv, CheckStrings, r, []*Schema{w}, nil)
				if (len(probs) == 0) != want {
					t.Errorf("%s: compatible = %v, want %v: %v", lv, len(probs) == 0, want, probs)
				}
			}
		})
	}
}

// TestTransitive shows the difference between a level and its transitive
// form over three versions: v1 {a}, v2 {a, b default}, v3 {a, b no default}.
func TestTransitive(t *testing.T) {
	v1 := mustParse(t, rec("R", fld("a", `"int"`)))
	v2 := mustParse(t, rec("R", fld("a", `"int"`), fld("b", `"int"`, `"default":0`)))
	v3 := mustParse(t, rec("R", fld("a", `"int"`), fld("b", `"int"`)))
	earlier := []*Schema{v1, v2}
	want := map[compat.Level]bool{
		compat.None: true, compat.Backward: true, compat.BackwardTransitive: false,
		compat.Forward: true, compat.ForwardTransitive: true, compat.Full: true, compat.FullTransitive: false,
	}
	for lv, ok := range want {
		probs := compat.Check(lv, CheckStrings, v3, earlier, func(i int) string { return fmt.Sprintf("{oldSchemaVersion: %d}", i+1) })
		if (len(probs) == 0) != ok {
			t.Errorf("%s: compatible = %v, want %v: %v", lv, len(probs) == 0, ok, probs)
		}
	}
}

func TestProblemPath(t *testing.T) {
	w := mustParse(t, rec("R", fld("a", `"int"`), fld("l", `{"type":"array","items":"int"}`)))
	r := mustParse(t, rec("R", fld("a", `"int"`), fld("l", `{"type":"array","items":"string"}`), fld("z", `"int"`)))
	probs := CanRead(r, w)
	if len(probs) != 2 {
		t.Fatalf("problems: %v", probs)
	}
	if probs[0].Path != "/fields/1/type/items" || probs[0].Type != TypeMismatch {
		t.Errorf("first: %+v", probs[0])
	}
	if probs[1].Path != "/fields/2" || probs[1].Type != ReaderFieldMissingDefaultValue {
		t.Errorf("second: %+v", probs[1])
	}
}

func mustParse(t *testing.T, s string) *Schema {
	t.Helper()
	x, err := Parse(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestForms(t *testing.T) {
	cases := []struct{ in, str, norm, pcf string }{
		{`{"type":"string"}`, `"string"`, `"string"`, `"string"`},
		{` "int" `, `"int"`, `"int"`, `"int"`},
		{`{"type":"int","logicalType":"date"}`, `{"type":"int","logicalType":"date"}`, `{"type":"int","logicalType":"date"}`, `"int"`},
		{`{"namespace":"ns","type":"record","name":"R","doc":"d","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]},"default":"X"},{"name":"b","type":"E"}]}`,
			`{"type":"record","name":"R","namespace":"ns","doc":"d","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]},"default":"X"},{"name":"b","type":"E"}]}`,
			`{"type":"record","name":"ns.R","doc":"d","fields":[{"name":"a","type":{"type":"enum","name":"ns.E","symbols":["X"]},"default":"X"},{"name":"b","type":"ns.E"}]}`,
			`{"name":"ns.R","type":"record","fields":[{"name":"a","type":{"name":"ns.E","type":"enum","symbols":["X"]}},{"name":"b","type":"ns.E"}]}`},
	}
	for _, tc := range cases {
		s := mustParse(t, tc.in)
		if got := Text(s); got != tc.str {
			t.Errorf("Text(%s) = %s, want %s", tc.in, got, tc.str)
		}
		if got := Normalized(s); got != tc.norm {
			t.Errorf("Normalized(%s) = %s, want %s", tc.in, got, tc.norm)
		}
		if got := Canonical(s); got != tc.pcf {
			t.Errorf("Canonical(%s) = %s, want %s", tc.in, got, tc.pcf)
		}
		// The stored form parses back to itself.
		if again := Text(mustParse(t, Text(s))); again != tc.str {
			t.Errorf("round trip %s != %s", again, tc.str)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, s := range []string{
		``, `{`, `"nope"`, `{"type":"record","name":"R"}`, `{"type":"record","name":"1R","fields":[]}`,
		`{"type":"enum","name":"E","symbols":["A","A"]}`, `{"type":"enum","name":"E","symbols":["A"],"default":"B"}`,
		`{"type":"fixed","name":"F"}`, `["null","null"]`, `["null",["int"]]`,
		rec("R", fld("a", `"int"`, `"default":"x"`)), rec("R", fld("a", `"int"`), fld("a", `"long"`)),
		`{"type":"array"}`, `"string" "int"`, `{"type":"record","name":"R","fields":[{"name":"a","type":"R2"}]}`,
	} {
		if _, err := Parse(s, nil); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestNamesAcrossSchemas(t *testing.T) {
	names := Names{}
	if _, err := Parse(`{"type":"record","name":"com.acme.Addr","fields":[{"name":"city","type":"string"}]}`, names); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(`{"type":"record","name":"com.acme.Person","fields":[{"name":"home","type":"Addr"}]}`, names)
	if err != nil {
		t.Fatal(err)
	}
	if s.Fields[0].Type.Name != "com.acme.Addr" {
		t.Fatalf("resolved %q", s.Fields[0].Type.Name)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range resolutionCases {
		f.Add(tc.writer)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := Parse(s, nil)
		if err != nil {
			return
		}
		_ = CanRead(x, x)
		if _, err := Parse(Text(x), nil); err != nil {
			t.Fatalf("String form does not parse: %v", err)
		}
	})
}
