// Package store keeps the registry's state in the _schemas topic, in the
// exact key and value JSON records of Confluent's Schema Registry (and
// Karapace), so a topic written by either loads here unchanged and the other
// way round.
//
// records.go is the record format; log.go consumes and produces the topic
// over franz-go; election.go elects a leader among registry instances over
// the Kafka group protocol.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// KeyType is the "keytype" of a _schemas key.
type KeyType string

// The record kinds of the _schemas topic.
const (
	KeySchema        KeyType = "SCHEMA"
	KeyConfig        KeyType = "CONFIG"
	KeyMode          KeyType = "MODE"
	KeyDeleteSubject KeyType = "DELETE_SUBJECT"
	KeyClearSubject  KeyType = "CLEAR_SUBJECT"
	KeyNoop          KeyType = "NOOP"
)

// Key is a _schemas record key. Subject is nil for the global CONFIG and
// MODE keys (written as "subject":null, as Confluent does).
type Key struct {
	KeyType KeyType
	Subject *string
	Version int // SCHEMA keys only
	Magic   int
}

// Encode renders the key byte for byte as Confluent does: fields in the
// order keytype, subject, version, magic, no whitespace. Log compaction
// matches keys by bytes, so this order matters.
func (k Key) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(`{"keytype":`)
	writeJSON(&b, string(k.KeyType))
	if k.KeyType != KeyNoop {
		b.WriteString(`,"subject":`)
		if k.Subject == nil {
			b.WriteString("null")
		} else {
			writeJSON(&b, *k.Subject)
		}
	}
	if k.KeyType == KeySchema {
		fmt.Fprintf(&b, `,"version":%d`, k.Version)
	}
	fmt.Fprintf(&b, `,"magic":%d}`, k.Magic)
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	enc, _ := json.Marshal(v)
	b.Write(enc)
}

// DecodeKey parses a key written by any Confluent-compatible registry.
func DecodeKey(data []byte) (Key, error) {
	var raw struct {
		KeyType string  `json:"keytype"`
		Subject *string `json:"subject"`
		Version int     `json:"version"`
		Magic   int     `json:"magic"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Key{}, fmt.Errorf("_schemas key %q: %w", truncate(data), err)
	}
	if raw.KeyType == "" {
		return Key{}, fmt.Errorf("_schemas key %q: no keytype", truncate(data))
	}
	return Key{KeyType: KeyType(raw.KeyType), Subject: raw.Subject, Version: raw.Version, Magic: raw.Magic}, nil
}

func truncate(b []byte) string {
	if len(b) > 100 {
		return string(b[:100]) + "..."
	}
	return string(b)
}

// SchemaKey is the key of one subject version.
func SchemaKey(subject string, version int) Key {
	return Key{KeyType: KeySchema, Subject: &subject, Version: version, Magic: 1}
}

// ConfigKey is the key of a subject's config; "" is the global config.
func ConfigKey(subject string) Key {
	k := Key{KeyType: KeyConfig}
	if subject != "" {
		k.Subject = &subject
	}
	return k
}

// ModeKey is the key of a subject's mode; "" is the global mode.
func ModeKey(subject string) Key {
	k := Key{KeyType: KeyMode}
	if subject != "" {
		k.Subject = &subject
	}
	return k
}

// DeleteSubjectKey is the key of a subject's soft delete.
func DeleteSubjectKey(subject string) Key {
	return Key{KeyType: KeyDeleteSubject, Subject: &subject}
}

// NoopKey is the key of the marker written to find the end of the topic.
func NoopKey() Key { return Key{KeyType: KeyNoop} }

// Reference is a schema reference, as in the REST API and the topic.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SchemaValue is the value of a SCHEMA record. SchemaType is empty for Avro
// (Confluent omits it). Metadata and RuleSet are kept as written.
type SchemaValue struct {
	Subject    string          `json:"subject"`
	Version    int             `json:"version"`
	ID         int             `json:"id"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Schema     string          `json:"schema"`
	Deleted    bool            `json:"deleted"`
}

// ConfigValue is the value of a CONFIG record. Fields this registry does
// not act on (defaultMetadata, overrideRuleSet, ...) are kept in Extra and
// written back unchanged.
type ConfigValue struct {
	CompatibilityLevel string                     `json:"compatibilityLevel,omitempty"`
	Normalize          *bool                      `json:"normalize,omitempty"`
	Extra              map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the known fields and the kept ones.
func (c ConfigValue) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	if c.CompatibilityLevel != "" {
		m["compatibilityLevel"] = c.CompatibilityLevel
	}
	if c.Normalize != nil {
		m["normalize"] = *c.Normalize
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the known fields and keeps the rest.
func (c *ConfigValue) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*c = ConfigValue{}
	for k, v := range m {
		switch k {
		case "compatibilityLevel":
			if err := json.Unmarshal(v, &c.CompatibilityLevel); err != nil {
				return err
			}
		case "normalize":
			var b *bool
			if err := json.Unmarshal(v, &b); err != nil {
				return err
			}
			c.Normalize = b
		default:
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[k] = v
		}
	}
	return nil
}

// ModeValue is the value of a MODE record.
type ModeValue struct {
	Mode string `json:"mode"`
}

// DeleteSubjectValue soft-deletes every version of Subject up to Version.
type DeleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// ClearSubjectValue is Confluent's marker of a permanently deleted subject.
type ClearSubjectValue struct {
	Subject string `json:"subject"`
}

// Record is one decoded _schemas record. Value is nil for a tombstone.
type Record struct {
	Key   Key
	Value any // *SchemaValue, *ConfigValue, *ModeValue, *DeleteSubjectValue, *ClearSubjectValue or nil
}

// ErrUnknownKeyType marks a record kind this registry does not know; such
// records are skipped, as Confluent skips them.
var ErrUnknownKeyType = errors.New("unknown _schemas key type")

// Decode parses a record. A nil or empty value is a tombstone.
func Decode(key, value []byte) (Record, error) {
	k, err := DecodeKey(key)
	if err != nil {
		return Record{}, err
	}
	r := Record{Key: k}
	if len(value) == 0 || string(value) == "null" {
		return r, nil
	}
	var v any
	switch k.KeyType {
	case KeySchema:
		v = new(SchemaValue)
	case KeyConfig:
		v = new(ConfigValue)
	case KeyMode:
		v = new(ModeValue)
	case KeyDeleteSubject:
		v = new(DeleteSubjectValue)
	case KeyClearSubject:
		v = new(ClearSubjectValue)
	case KeyNoop:
		return r, nil
	default:
		return r, fmt.Errorf("%w %q", ErrUnknownKeyType, k.KeyType)
	}
	if err := json.Unmarshal(value, v); err != nil {
		return r, fmt.Errorf("_schemas %s value %q: %w", k.KeyType, truncate(value), err)
	}
	r.Value = v
	return r, nil
}

// Encode renders a record's key and value; a nil Value is a tombstone.
func (r Record) Encode() (key, value []byte, err error) {
	key = r.Key.Encode()
	if r.Value == nil {
		return key, nil, nil
	}
	value, err = json.Marshal(r.Value)
	return key, value, err
}
