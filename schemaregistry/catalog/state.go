// Package catalog is the registry's in-memory state and its rules: the
// subjects, versions, ids, configs and modes rebuilt from _schemas records,
// the queries the REST API answers from memory, and the plans that turn a
// write request into the records to append. It does no I/O: the caller
// produces the planned records and applies what it reads back, so every
// instance's state is a pure function of the topic.
//
// The error catalogue (Confluent's error codes) lives here too, since the
// rules are where errors arise.
package catalog

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/schemaregistry/compat"
	"github.com/sluicehq/sluice/schemaregistry/format"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// Modes of the registry or a subject.
const (
	ModeReadWrite        = "READWRITE"
	ModeReadOnly         = "READONLY"
	ModeReadOnlyOverride = "READONLY_OVERRIDE"
	ModeImport           = "IMPORT"
)

// Version is one subject version as stored.
type Version struct {
	store.SchemaValue
	key string // content identity: type, text, references, metadata, rule set
}

// Type is the schema type with AVRO spelled out.
func (v *Version) Type() string { return format.Normalize(v.SchemaType) }

type subjectState struct {
	versions map[int]*Version
}

func (s *subjectState) sorted() []*Version {
	out := make([]*Version, 0, len(s.versions))
	for _, v := range s.versions {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// Schema is what an id stands for.
type Schema struct {
	ID         int
	SchemaType string
	Schema     string
	References []store.Reference
	key        string
	uses       map[*Version]bool
}

// Catalog is the state behind a lock: Apply takes it for writing, the query
// methods for reading. Plans run under the read lock.
type Catalog struct {
	mu sync.RWMutex
	st *State
}

// New returns an empty catalog whose default compatibility is level.
func New(level compat.Level) *Catalog {
	return &Catalog{st: newState(level)}
}

// Apply applies one record read from _schemas.
func (c *Catalog) Apply(r store.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.apply(r)
}

// Read runs f with the state locked for reading.
func (c *Catalog) Read(f func(st *State)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	f(c.st)
}

// State is the registry's state. Its methods must be called through
// Catalog.Read (or Apply).
type State struct {
	subjects     map[string]*subjectState
	ids          map[int]*Schema
	content      map[string]int
	configs      map[string]store.ConfigValue // "" is global
	modes        map[string]string            // "" is global
	maxID        int
	defaultLevel compat.Level
	parsed       sync.Map // content key -> format.Parsed; shared by readers
}

func newState(level compat.Level) *State {
	if level == "" {
		level = compat.Backward
	}
	return &State{
		subjects:     map[string]*subjectState{},
		ids:          map[int]*Schema{},
		content:      map[string]int{},
		configs:      map[string]store.ConfigValue{},
		modes:        map[string]string{},
		defaultLevel: level,
	}
}

// MaxID is the highest schema id ever seen; new ids are above it.
func (st *State) MaxID() int { return st.maxID }

func (st *State) apply(r store.Record) {
	k := r.Key
	subj := ""
	if k.Subject != nil {
		subj = *k.Subject
	}
	switch k.KeyType {
	case store.KeySchema:
		if r.Value == nil {
			st.removeVersion(subj, k.Version)
			return
		}
		v := r.Value.(*store.SchemaValue)
		st.putVersion(v)
	case store.KeyConfig:
		if r.Value == nil {
			delete(st.configs, subj)
			return
		}
		st.configs[subj] = *r.Value.(*store.ConfigValue)
	case store.KeyMode:
		if r.Value == nil {
			delete(st.modes, subj)
			return
		}
		st.modes[subj] = strings.ToUpper(r.Value.(*store.ModeValue).Mode)
	case store.KeyDeleteSubject:
		if d, ok := r.Value.(*store.DeleteSubjectValue); ok {
			if s := st.subjects[d.Subject]; s != nil {
				for ver, v := range s.versions {
					if v.Version <= d.Version && !v.Deleted {
						// A new Version value: readers may hold the old one.
						nv := *v
						nv.Deleted = true
						s.versions[ver] = &nv
						if e := st.ids[v.ID]; e != nil {
							delete(e.uses, v)
							e.uses[&nv] = true
						}
					}
				}
			}
		}
	case store.KeyClearSubject:
		if d, ok := r.Value.(*store.ClearSubjectValue); ok {
			if s := st.subjects[d.Subject]; s != nil {
				for _, v := range s.sorted() {
					st.removeVersion(d.Subject, v.Version)
				}
			}
		}
	}
}

func (st *State) putVersion(sv *store.SchemaValue) {
	st.removeVersion(sv.Subject, sv.Version)
	v := &Version{SchemaValue: *sv}
	v.key = st.contentKey(sv.SchemaType, sv.Schema, sv.References, sv.Metadata, sv.RuleSet)
	s := st.subjects[sv.Subject]
	if s == nil {
		s = &subjectState{versions: map[int]*Version{}}
		st.subjects[sv.Subject] = s
	}
	s.versions[sv.Version] = v
	if sv.ID > st.maxID {
		st.maxID = sv.ID
	}
	e := st.ids[sv.ID]
	if e == nil {
		e = &Schema{ID: sv.ID, SchemaType: sv.SchemaType, Schema: sv.Schema, References: sv.References, key: v.key, uses: map[*Version]bool{}}
		st.ids[sv.ID] = e
	}
	e.uses[v] = true
	if _, ok := st.content[v.key]; !ok {
		st.content[v.key] = sv.ID
	}
}

func (st *State) removeVersion(subject string, version int) {
	s := st.subjects[subject]
	if s == nil {
		return
	}
	v := s.versions[version]
	if v == nil {
		return
	}
	delete(s.versions, version)
	if len(s.versions) == 0 {
		delete(st.subjects, subject)
	}
	if e := st.ids[v.ID]; e != nil {
		delete(e.uses, v)
		if len(e.uses) == 0 {
			delete(st.ids, v.ID)
			if st.content[e.key] == v.ID {
				delete(st.content, e.key)
			}
		}
	}
}

// contentKey is the identity of a schema: the same key means the same id.
// The text is re-rendered through its format so any spelling of a schema
// (ours, Confluent's, Karapace's) lands on the same key.
func (st *State) contentKey(schemaType, text string, refs []store.Reference, metadata, ruleSet json.RawMessage) string {
	if p, err := st.parse(schemaType, text, refs); err == nil {
		text = p.Text()
	}
	return st.rawKey(schemaType, text, refs, metadata, ruleSet)
}

func (st *State) rawKey(schemaType, text string, refs []store.Reference, metadata, ruleSet json.RawMessage) string {
	var b strings.Builder
	b.WriteString(format.Normalize(schemaType))
	b.WriteByte(0)
	b.WriteString(text)
	b.WriteByte(0)
	if len(refs) > 0 {
		r, _ := json.Marshal(refs)
		b.Write(r)
	}
	b.WriteByte(0)
	b.WriteString(compactJSON(metadata))
	b.WriteByte(0)
	b.WriteString(compactJSON(ruleSet))
	return b.String()
}

func compactJSON(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	var v any
	if json.Unmarshal(m, &v) != nil {
		return string(m)
	}
	b, _ := json.Marshal(v) // sorted keys
	return string(b)
}

// parse parses a schema with its references, caching by text and references.
func (st *State) parse(schemaType, text string, refs []store.Reference) (format.Parsed, error) {
	ck := st.rawKey(schemaType, text, refs, nil, nil)
	if p, ok := st.parsed.Load(ck); ok {
		return p.(format.Parsed), nil
	}
	resolved, err := st.resolveRefs(refs, 0)
	if err != nil {
		return nil, err
	}
	p, err := format.Parse(schemaType, text, resolved)
	if err != nil {
		return nil, err
	}
	st.parsed.Store(ck, p)
	return p, nil
}

func (st *State) resolveRefs(refs []store.Reference, depth int) ([]format.Ref, error) {
	if depth > 50 {
		return nil, Errf(CodeInvalidSchema, "Invalid schema: references nested too deeply")
	}
	var out []format.Ref
	for _, r := range refs {
		v := st.version(r.Subject, r.Version)
		if v == nil {
			return nil, Errf(CodeInvalidSchema, "Invalid schema: reference %s (subject %s version %d) not found", r.Name, r.Subject, r.Version)
		}
		sub, err := st.resolveRefs(v.References, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, format.Ref{Name: r.Name, Subject: r.Subject, Version: v.Version, Type: v.SchemaType, Schema: v.Schema, Refs: sub})
	}
	return out, nil
}

// version finds a stored version, deleted or not; -1 is the latest.
func (st *State) version(subject string, version int) *Version {
	s := st.subjects[subject]
	if s == nil {
		return nil
	}
	if version == -1 {
		var latest *Version
		for _, v := range s.versions {
			if latest == nil || v.Version > latest.Version {
				latest = v
			}
		}
		return latest
	}
	return s.versions[version]
}
