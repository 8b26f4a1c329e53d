package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// configMap is a connector config as clients send it. Like Kafka Connect
// (Jackson), it takes numbers and booleans for string values, so
// {"tasks.max": 2} works as {"tasks.max": "2"}.
type configMap map[string]string

func (c *configMap) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*c = nil
		return nil
	}
	out := make(configMap, len(raw))
	for k, v := range raw {
		s, isNull, err := scalar(v)
		if err != nil {
			return fmt.Errorf("config value of %q: %w", k, err)
		}
		if !isNull {
			out[k] = s
		}
	}
	*c = out
	return nil
}

// scalar reads a JSON string, number or boolean as a string.
func scalar(v json.RawMessage) (s string, isNull bool, err error) {
	v = bytes.TrimSpace(v)
	switch {
	case bytes.Equal(v, []byte("null")):
		return "", true, nil
	case len(v) > 0 && v[0] == '"':
		err = json.Unmarshal(v, &s)
		return s, false, err
	case bytes.Equal(v, []byte("true")), bytes.Equal(v, []byte("false")):
		return string(v), false, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return "", false, fmt.Errorf("want a string, number or boolean, got %s", v)
	}
	return n.String(), false, nil
}

// patchMap is a PATCH body: a null value removes the key.
type patchMap map[string]*string

func (p *patchMap) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(patchMap, len(raw))
	for k, v := range raw {
		s, isNull, err := scalar(v)
		if err != nil {
			return fmt.Errorf("config value of %q: %w", k, err)
		}
		if isNull {
			out[k] = nil
		} else {
			out[k] = &s
		}
	}
	*p = out
	return nil
}
