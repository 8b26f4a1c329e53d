package rest

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestConfigMapScalars(t *testing.T) {
	var c configMap
	if err := json.Unmarshal([]byte(`{"a":"x","b":2,"c":1.5,"d":true,"e":null}`), &c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, configMap{"a": "x", "b": "2", "c": "1.5", "d": "true"}) {
		t.Fatalf("got %v", c)
	}
	for _, bad := range []string{`{"a":{"b":1}}`, `{"a":[1]}`, `[]`, `{`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	var p patchMap
	if err := json.Unmarshal([]byte(`{"a":null,"b":3}`), &p); err != nil || p["a"] != nil || *p["b"] != "3" {
		t.Fatalf("patch = %v %v", p, err)
	}
}
