package plugin

import (
	"encoding/json"
	"fmt"
)

// MarshalJSON writes a field as Kafka Connect does: its schema's keys plus
// "field".
func (f Field) MarshalJSON() ([]byte, error) {
	if f.Schema == nil {
		return nil, fmt.Errorf("field %q has no schema", f.Name)
	}
	b, err := json.Marshal(f.Schema)
	if err != nil {
		return nil, err
	}
	name, _ := json.Marshal(f.Name)
	if len(b) == 2 { // "{}" cannot happen: type is always written
		return nil, fmt.Errorf("field %q: empty schema", f.Name)
	}
	out := make([]byte, 0, len(b)+len(name)+10)
	out = append(out, b[:len(b)-1]...)
	out = append(out, `,"field":`...)
	out = append(out, name...)
	out = append(out, '}')
	return out, nil
}

// UnmarshalJSON reads a field written by MarshalJSON or Kafka Connect.
func (f *Field) UnmarshalJSON(b []byte) error {
	var name struct {
		Field string `json:"field"`
	}
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	var s Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	f.Name, f.Schema = name.Field, &s
	return nil
}
