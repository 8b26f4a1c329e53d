package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/sluicehq/sluice/schemaregistry/compat"
	"github.com/sluicehq/sluice/schemaregistry/format"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// SchemaRequest is the body of register, lookup and compatibility requests.
// Metadata and RuleSet are kept as sent.
type SchemaRequest struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType,omitempty"`
	References []store.Reference `json:"references,omitempty"`
	Metadata   json.RawMessage   `json:"metadata,omitempty"`
	RuleSet    json.RawMessage   `json:"ruleSet,omitempty"`
	ID         int               `json:"id,omitempty"`
	Version    int               `json:"version,omitempty"`
}

// ValidSubject rejects names Confluent rejects (42208).
func ValidSubject(s string) error {
	if s == "" || strings.TrimSpace(s) == "" {
		return Errf(CodeInvalidSubject, "Invalid subject %q", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Errf(CodeInvalidSubject, "Invalid subject %q", s)
		}
	}
	return nil
}

// prepared is a parsed request: the text to store and its identity.
type prepared struct {
	parsed format.Parsed
	text   string
	key    string
}

func (st *State) prepare(subject string, req SchemaRequest, normalize bool) (prepared, error) {
	if strings.TrimSpace(req.Schema) == "" {
		return prepared{}, Errf(CodeInvalidSchema, "Empty schema")
	}
	typ := format.Normalize(req.SchemaType)
	p, err := st.parse(typ, req.Schema, req.References)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return prepared{}, e
		}
		return prepared{}, Errf(CodeInvalidSchema, "Invalid schema %s with refs %v of type %s, details: %s", truncate(req.Schema), req.References, typ, truncate(err.Error()))
	}
	text := p.Text()
	if normalize || st.normalizeFor(subject) {
		text = p.Normalized()
	}
	// The key of the stored text, exactly as apply will compute it.
	key := st.contentKey(req.SchemaType, text, req.References, req.Metadata, req.RuleSet)
	return prepared{parsed: p, text: text, key: key}, nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// Lookup finds the version of subject holding the schema in req
// (POST /subjects/{s}).
func (st *State) Lookup(subject string, req SchemaRequest, normalize, deleted bool) (Version, error) {
	s := st.subjects[subject]
	if s == nil || (!deleted && !st.hasLive(subject)) {
		return Version{}, errSubjectNotFound(subject)
	}
	p, err := st.prepare(subject, req, normalize)
	if err != nil {
		return Version{}, err
	}
	for _, v := range s.sorted() {
		if v.key == p.key && (deleted || !v.Deleted) {
			return *v, nil
		}
	}
	return Version{}, ErrSchemaNotFound()
}

// Registered is the outcome of a register plan.
type Registered struct {
	ID      int
	Version int
	// Existing is true when the schema was already there: no record to write.
	Existing bool
	// Checked is true when compatibility was checked (and passed).
	Checked bool
}

// PlanRegister decides what registering req under subject writes.
func (st *State) PlanRegister(subject string, req SchemaRequest, normalize bool) ([]store.Record, Registered, error) {
	if err := ValidSubject(subject); err != nil {
		return nil, Registered{}, err
	}
	mode, _ := st.Mode(subject, true)
	if mode == ModeReadOnly || mode == ModeReadOnlyOverride {
		return nil, Registered{}, Errf(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	if req.ID < 0 {
		req.ID = 0 // -1 means "none" to some clients
	}
	if req.Version < 0 {
		req.Version = 0
	}
	p, err := st.prepare(subject, req, normalize)
	if err != nil {
		return nil, Registered{}, err
	}
	var live []*Version
	maxVersion := 0
	if s := st.subjects[subject]; s != nil {
		for _, v := range s.sorted() {
			if v.Version > maxVersion {
				maxVersion = v.Version
			}
			if !v.Deleted {
				if v.key == p.key && (req.ID == 0 || req.ID == v.ID) && (req.Version == 0 || req.Version == v.Version) {
					return nil, Registered{ID: v.ID, Version: v.Version, Existing: true}, nil
				}
				live = append(live, v)
			}
		}
	}
	id := req.ID
	if id > 0 {
		if mode != ModeImport {
			if existing, ok := st.content[p.key]; !ok || existing != id {
				return nil, Registered{}, Errf(CodeOperationNotPermitted, "Subject %s is not in import mode; a schema id may only be given in IMPORT mode", subject)
			}
		}
		if e, ok := st.ids[id]; ok && e.key != p.key {
			return nil, Registered{}, Errf(CodeOperationNotPermitted, "Overwrite new schema with id %d is not permitted.", id)
		}
	} else if existing, ok := st.content[p.key]; ok {
		id = existing
	} else {
		id = st.maxID + 1
	}
	version := maxVersion + 1
	if req.Version > 0 {
		if mode != ModeImport {
			if req.Version != version {
				return nil, Registered{}, Errf(CodeInvalidVersion, "Version %d is not the next version %d of subject %s", req.Version, version, subject)
			}
		} else if old := st.version(subject, req.Version); old != nil && old.key != p.key {
			return nil, Registered{}, Errf(CodeOperationNotPermitted, "Overwrite new schema with version %d of subject %s is not permitted.", req.Version, subject)
		}
		version = req.Version
	}
	if mode != ModeImport {
		if msgs := st.checkAgainst(subject, p.parsed, live, st.Level(subject)); len(msgs) > 0 {
			return nil, Registered{}, &Error{Code: CodeIncompatibleSchema, Message: "Schema being registered is incompatible with an earlier schema for subject \"" + subject + "\", details: [" + strings.Join(msgs, ", ") + "]"}
		}
	}
	schemaType := format.Normalize(req.SchemaType)
	if schemaType == format.Avro {
		schemaType = "" // Confluent omits AVRO in the record
	}
	val := &store.SchemaValue{
		Subject: subject, Version: version, ID: id, SchemaType: schemaType,
		References: req.References, Metadata: req.Metadata, RuleSet: req.RuleSet, Schema: p.text,
	}
	return []store.Record{{Key: store.SchemaKey(subject, version), Value: val}}, Registered{ID: id, Version: version, Checked: mode != ModeImport && len(live) > 0}, nil
}

// checkAgainst checks a parsed schema against earlier live versions (oldest
// first) at level; versions of another schema type are incompatible.
func (st *State) checkAgainst(subject string, next format.Parsed, earlier []*Version, level compat.Level) []string {
	var parsed []format.Parsed
	var labels []int
	var msgs []string
	for _, v := range earlier {
		p, err := st.parse(v.SchemaType, v.Schema, v.References)
		if err != nil {
			if level != compat.None {
				msgs = append(msgs, fmt.Sprintf("{oldSchemaVersion: %d}: cannot be compared: %v", v.Version, err))
			}
			continue
		}
		parsed = append(parsed, p)
		labels = append(labels, v.Version)
	}
	if len(msgs) > 0 {
		return msgs
	}
	probs := format.Check(level, next, parsed, func(i int) string { return fmt.Sprintf("{oldSchemaVersion: %d}", labels[i]) })
	if len(probs) > 0 {
		probs = append(probs, fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return probs
}

// CheckCompatibility answers POST /compatibility/subjects/{s}/versions[/{v}]:
// version 0 checks against the versions the subject's level names, otherwise
// against that one version (-1 latest).
func (st *State) CheckCompatibility(subject string, version int, req SchemaRequest, normalize bool) (bool, []string, error) {
	p, err := st.prepare(subject, req, normalize)
	if err != nil {
		return false, nil, err
	}
	level := st.Level(subject)
	var earlier []*Version
	if version == 0 {
		if s := st.subjects[subject]; s != nil {
			for _, v := range s.sorted() {
				if !v.Deleted {
					earlier = append(earlier, v)
				}
			}
		}
	} else {
		v, err := st.GetVersion(subject, version, false)
		if err != nil {
			return false, nil, err
		}
		// Against one named version, the transitive distinction is moot.
		level = compat.Level(strings.TrimSuffix(string(level), "_TRANSITIVE"))
		earlier = []*Version{&v}
	}
	msgs := st.checkAgainst(subject, p.parsed, earlier, level)
	return len(msgs) == 0, msgs, nil
}

// PlanDeleteVersion soft-deletes (or, with permanent, hard-deletes a
// soft-deleted) version.
func (st *State) PlanDeleteVersion(subject string, version int, permanent bool) ([]store.Record, int, error) {
	if err := st.writable(subject); err != nil {
		return nil, 0, err
	}
	s := st.subjects[subject]
	if s == nil {
		return nil, 0, errSubjectNotFound(subject)
	}
	var v *Version
	if version == -1 {
		// latest: the newest undeleted for a soft delete, the newest of all
		// for a permanent one.
		for _, x := range s.sorted() {
			if permanent || !x.Deleted {
				v = x
			}
		}
	} else {
		v = s.versions[version]
	}
	if v == nil {
		if !permanent && !st.hasLive(subject) {
			return nil, 0, errSubjectNotFound(subject)
		}
		return nil, 0, errVersionNotFound(subject, version)
	}
	if ids := st.ReferencedBy(subject, v.Version); len(ids) > 0 {
		return nil, 0, Errf(CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: ids %v", subject, v.Version, ids)
	}
	if !permanent {
		if v.Deleted {
			return nil, 0, Errf(CodeSchemaVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.Version)
		}
		nv := v.SchemaValue
		nv.Deleted = true
		return []store.Record{{Key: store.SchemaKey(subject, v.Version), Value: &nv}}, v.Version, nil
	}
	if !v.Deleted {
		return nil, 0, Errf(CodeSchemaVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version)
	}
	return []store.Record{{Key: store.SchemaKey(subject, v.Version)}}, v.Version, nil
}

// PlanDeleteSubject soft-deletes every version of a subject (and drops its
// config and mode, as Confluent does), or hard-deletes a soft-deleted one.
func (st *State) PlanDeleteSubject(subject string, permanent bool) ([]store.Record, []int, error) {
	if err := st.writable(subject); err != nil {
		return nil, nil, err
	}
	s := st.subjects[subject]
	if s == nil {
		return nil, nil, errSubjectNotFound(subject)
	}
	all := s.sorted()
	var live, versions []int
	for _, v := range all {
		versions = append(versions, v.Version)
		if !v.Deleted {
			live = append(live, v.Version)
		}
		if ids := st.ReferencedBy(subject, v.Version); len(ids) > 0 {
			return nil, nil, Errf(CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: ids %v", subject, v.Version, ids)
		}
	}
	if !permanent {
		if len(live) == 0 {
			return nil, nil, Errf(CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		}
		recs := []store.Record{{Key: store.DeleteSubjectKey(subject), Value: &store.DeleteSubjectValue{Subject: subject, Version: all[len(all)-1].Version}}}
		if _, ok := st.configs[subject]; ok {
			recs = append(recs, store.Record{Key: store.ConfigKey(subject)})
		}
		if _, ok := st.modes[subject]; ok {
			recs = append(recs, store.Record{Key: store.ModeKey(subject)})
		}
		return recs, live, nil
	}
	if len(live) > 0 {
		return nil, nil, Errf(CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
	}
	var recs []store.Record
	for _, v := range versions {
		recs = append(recs, store.Record{Key: store.SchemaKey(subject, v)})
	}
	return recs, versions, nil
}

func (st *State) writable(subject string) error {
	mode, _ := st.Mode(subject, true)
	if mode == ModeReadOnly || mode == ModeReadOnlyOverride {
		return Errf(CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}

// ConfigRequest is the body of PUT /config: Confluent names the level
// "compatibility" here and "compatibilityLevel" in answers.
type ConfigRequest struct {
	Compatibility string `json:"compatibility"`
	// CompatibilityLevel is accepted too, as some clients send the name
	// the answers use.
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
	Normalize          *bool  `json:"normalize,omitempty"`
}

// PlanSetConfig sets the config of subject ("" global).
func (st *State) PlanSetConfig(subject string, req ConfigRequest) ([]store.Record, store.ConfigValue, error) {
	if subject != "" {
		if err := ValidSubject(subject); err != nil {
			return nil, store.ConfigValue{}, err
		}
	}
	cur := st.configs[subject]
	level := req.Compatibility
	if level == "" {
		level = req.CompatibilityLevel
	}
	if level == "" && req.Normalize != nil {
		// Only normalize changes: keep the level in force.
		level = string(st.Level(subject))
	}
	lv, err := compat.ParseLevel(level)
	if err != nil {
		return nil, store.ConfigValue{}, ErrInvalidLevel(level)
	}
	v := store.ConfigValue{CompatibilityLevel: string(lv), Normalize: cur.Normalize, Extra: cur.Extra}
	if req.Normalize != nil {
		v.Normalize = req.Normalize
	}
	return []store.Record{{Key: store.ConfigKey(subject), Value: &v}}, v, nil
}

// PlanDeleteConfig removes the config of subject ("" global: back to the
// default) and returns what it was.
func (st *State) PlanDeleteConfig(subject string) ([]store.Record, store.ConfigValue, error) {
	prev, ok := st.Config(subject, false)
	if subject != "" && !ok {
		if st.subjects[subject] == nil {
			return nil, prev, errSubjectNotFound(subject)
		}
		return nil, prev, Errf(CodeSubjectCompatibilityNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return []store.Record{{Key: store.ConfigKey(subject)}}, prev, nil
}

// ParseMode validates a mode name (42204).
func ParseMode(m string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(m))
	switch u {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport:
		return u, nil
	}
	return "", Errf(CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT (got %q)", m)
}

// PlanSetMode sets the mode of subject ("" global). IMPORT needs an empty
// registry (or subject) unless force.
func (st *State) PlanSetMode(subject, mode string, force bool) ([]store.Record, string, error) {
	if subject != "" {
		if err := ValidSubject(subject); err != nil {
			return nil, "", err
		}
	}
	m, err := ParseMode(mode)
	if err != nil {
		return nil, "", err
	}
	if m == ModeImport && !force && !st.Empty(subject) {
		cur, _ := st.Mode(subject, true)
		if cur != ModeImport {
			return nil, "", Errf(CodeOperationNotPermitted, "Cannot import since found existing subjects")
		}
	}
	return []store.Record{{Key: store.ModeKey(subject), Value: &store.ModeValue{Mode: m}}}, m, nil
}

// PlanDeleteMode removes the mode of subject ("" global: back to
// READWRITE) and returns what it was.
func (st *State) PlanDeleteMode(subject string) ([]store.Record, string, error) {
	prev, ok := st.Mode(subject, false)
	if subject != "" && !ok {
		if st.subjects[subject] == nil {
			return nil, "", errSubjectNotFound(subject)
		}
		return nil, "", Errf(CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return []store.Record{{Key: store.ModeKey(subject)}}, prev, nil
}
