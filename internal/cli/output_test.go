package cli

import (
	"bytes"
	"testing"
)

type outRow struct {
	Name  string `json:"name" yaml:"name"`
	Count int    `json:"count" yaml:"count"`
}

func TestRender(t *testing.T) {
	v := []outRow{{"alpha", 1}, {"b", 22}}
	tab := &table{header: []string{"NAME", "COUNT"}}
	tab.add("alpha", "1")
	tab.add("b", "22")
	second := &table{}
	second.add("x", "y")
	for format, want := range map[string]string{
		"table": "NAME   COUNT\nalpha  1\nb      22\n\nx  y\n",
		"json":  "[\n  {\n    \"name\": \"alpha\",\n    \"count\": 1\n  },\n  {\n    \"name\": \"b\",\n    \"count\": 22\n  }\n]\n",
		"yaml":  "- name: alpha\n  count: 1\n- name: b\n  count: 22\n",
	} {
		var b bytes.Buffer
		if err := render(&b, format, v, tab, second); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s:\n got %q\nwant %q", format, b.String(), want)
		}
	}
	if err := render(&bytes.Buffer{}, "xml", v, tab); err == nil {
		t.Error("unknown format accepted")
	}
}
