package jsonschema

import "testing"

// TestCommonChanges checks the common JSON Schema evolutions as a registry
// sees them under BACKWARD: the new schema (reader) must accept every
// document the old one (writer) accepted.
func TestCommonChanges(t *testing.T) {
	cases := []struct {
		name       string
		old, new   string
		compatible bool
	}{
		{"same", `{"type":"string"}`, `{"type":"string"}`, true},
		{"integer widened to number", `{"type":"integer"}`, `{"type":"number"}`, true},
		{"number narrowed to integer", `{"type":"number"}`, `{"type":"integer"}`, false},
		{"type changed", `{"type":"string"}`, `{"type":"boolean"}`, false},
		{"type added to union", `{"type":"string"}`, `{"type":["string","null"]}`, true},
		{"type removed from union", `{"type":["string","null"]}`, `{"type":"string"}`, false},
		{"enum extended", `{"enum":["a","b"]}`, `{"enum":["a","b","c"]}`, true},
		{"enum narrowed", `{"enum":["a","b"]}`, `{"enum":["a"]}`, false},
		{"maxLength lowered", `{"type":"string","maxLength":10}`, `{"type":"string","maxLength":5}`, false},
		{"maxLength raised", `{"type":"string","maxLength":5}`, `{"type":"string","maxLength":10}`, true},
		{"minimum raised", `{"type":"number","minimum":0}`, `{"type":"number","minimum":1}`, false},
		{"pattern added", `{"type":"string"}`, `{"type":"string","pattern":"^a"}`, false},
		{"optional property added, closed", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`, true},
		{"optional property added, open", `{"type":"object","properties":{"a":{"type":"string"}}}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, false},
		{"required property added", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["b"],"additionalProperties":false}`, false},
		{"property removed, open reader", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`,
			`{"type":"object","properties":{"a":{"type":"string"}}}`, true},
		{"property removed, closed reader", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`,
			`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`, false},
		{"required dropped", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"string"}}}`, true},
		{"nested property type changed", `{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"integer"}}}}}`,
			`{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"string"}}}}}`, false},
		{"array items widened", `{"type":"array","items":{"type":"integer"}}`, `{"type":"array","items":{"type":"number"}}`, true},
		{"array items changed", `{"type":"array","items":{"type":"integer"}}`, `{"type":"array","items":{"type":"string"}}`, false},
		{"oneOf branch added", `{"oneOf":[{"type":"string"}]}`, `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, true},
		{"oneOf branch removed", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"}]}`, false},
		{"true schema reads anything", `{"type":"string"}`, `true`, true},
		{"false schema reads nothing", `{"type":"string"}`, `false`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Decode(tc.old)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decode(tc.new)
			if err != nil {
				t.Fatal(err)
			}
			probs := CanRead(r, w)
			if (len(probs) == 0) != tc.compatible {
				t.Fatalf("compatible = %v, want %v: %v", len(probs) == 0, tc.compatible, probs)
			}
		})
	}
}
