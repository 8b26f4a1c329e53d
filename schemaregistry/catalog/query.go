package catalog

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/schemaregistry/compat"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// Queries answer from memory. Values returned are copies, safe to use after
// the read lock is released.

// SchemaByID returns the schema an id stands for.
func (st *State) SchemaByID(id int) (Schema, bool) {
	e, ok := st.ids[id]
	if !ok {
		return Schema{}, false
	}
	return Schema{ID: e.ID, SchemaType: e.SchemaType, Schema: e.Schema, References: e.References}, true
}

// SubjectVersion names one version.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// UsesOfID lists the subject versions registered with id, sorted.
func (st *State) UsesOfID(id int, deleted bool) []SubjectVersion {
	e, ok := st.ids[id]
	if !ok {
		return nil
	}
	out := []SubjectVersion{}
	for v := range e.uses {
		if v.Deleted && !deleted {
			continue
		}
		out = append(out, SubjectVersion{v.Subject, v.Version})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Subjects lists subject names with prefix. A subject whose versions are all
// soft-deleted shows with deleted; deletedOnly shows only those with a
// soft-deleted version.
func (st *State) Subjects(prefix string, deleted, deletedOnly bool) []string {
	out := []string{}
	for name, s := range st.subjects {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		live, dead := false, false
		for _, v := range s.versions {
			if v.Deleted {
				dead = true
			} else {
				live = true
			}
		}
		if (deletedOnly && dead) || (!deletedOnly && (live || deleted)) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Versions lists a subject's versions (40401 when it has none to show).
func (st *State) Versions(subject string, deleted, deletedOnly bool) ([]Version, error) {
	s := st.subjects[subject]
	if s == nil {
		return nil, errSubjectNotFound(subject)
	}
	var out []Version
	for _, v := range s.sorted() {
		if (deletedOnly && v.Deleted) || (!deletedOnly && (!v.Deleted || deleted)) {
			out = append(out, *v)
		}
	}
	if len(out) == 0 && !deletedOnly {
		return nil, errSubjectNotFound(subject)
	}
	return out, nil
}

// AllSchemas lists every version of subjects with prefix, by subject then
// version; latestOnly keeps the newest shown version per subject.
func (st *State) AllSchemas(prefix string, deleted, latestOnly bool) []Version {
	out := []Version{}
	for _, name := range st.Subjects(prefix, deleted, false) {
		vs, _ := st.Versions(name, deleted, false)
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		out = append(out, vs...)
	}
	return out
}

// ParseVersion reads a version path segment: 1..2^31-1, "latest" or -1.
// -1 stands for latest.
func ParseVersion(s string) (int, error) {
	if s == "latest" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 || n < -1 || n > math.MaxInt32 {
		return 0, ErrInvalidVersion(s)
	}
	return int(n), nil
}

// GetVersion finds a version (-1: the latest shown). Soft-deleted versions
// show only with deleted.
func (st *State) GetVersion(subject string, version int, deleted bool) (Version, error) {
	s := st.subjects[subject]
	if s == nil {
		return Version{}, errSubjectNotFound(subject)
	}
	if version == -1 {
		vs, err := st.Versions(subject, deleted, false)
		if err != nil {
			return Version{}, err
		}
		return vs[len(vs)-1], nil
	}
	v := s.versions[version]
	if v == nil || (v.Deleted && !deleted) {
		if !st.hasLive(subject) && !deleted {
			return Version{}, errSubjectNotFound(subject)
		}
		return Version{}, errVersionNotFound(subject, version)
	}
	return *v, nil
}

func (st *State) hasLive(subject string) bool {
	s := st.subjects[subject]
	if s == nil {
		return false
	}
	for _, v := range s.versions {
		if !v.Deleted {
			return true
		}
	}
	return false
}

// ReferencedBy lists the ids of schemas (of undeleted versions) that
// reference subject version.
func (st *State) ReferencedBy(subject string, version int) []int {
	seen := map[int]bool{}
	out := []int{}
	for _, s := range st.subjects {
		for _, v := range s.versions {
			if v.Deleted {
				continue
			}
			for _, r := range v.References {
				if r.Subject == subject && r.Version == version && !seen[v.ID] {
					seen[v.ID] = true
					out = append(out, v.ID)
				}
			}
		}
	}
	sort.Ints(out)
	return out
}

// Config returns the config of subject ("" global). With defaultToGlobal a
// subject without its own falls back to the global one, and that to the
// default level. ok is false when nothing is set at the asked level.
func (st *State) Config(subject string, defaultToGlobal bool) (store.ConfigValue, bool) {
	if c, ok := st.configs[subject]; ok {
		return c, true
	}
	if subject != "" && !defaultToGlobal {
		return store.ConfigValue{}, false
	}
	if c, ok := st.configs[""]; ok {
		return c, true
	}
	return store.ConfigValue{CompatibilityLevel: string(st.defaultLevel)}, subject == "" || defaultToGlobal
}

// Level is the compatibility level in force for subject.
func (st *State) Level(subject string) compat.Level {
	c, _ := st.Config(subject, true)
	if l, err := compat.ParseLevel(c.CompatibilityLevel); err == nil {
		return l
	}
	return st.defaultLevel
}

func (st *State) normalizeFor(subject string) bool {
	c, _ := st.Config(subject, true)
	return c.Normalize != nil && *c.Normalize
}

// Mode returns the mode of subject ("" global), like Config.
func (st *State) Mode(subject string, defaultToGlobal bool) (string, bool) {
	if m, ok := st.modes[subject]; ok {
		return m, true
	}
	if subject != "" && !defaultToGlobal {
		return "", false
	}
	if m, ok := st.modes[""]; ok {
		return m, true
	}
	return ModeReadWrite, true
}

// Empty reports whether no subject (or, with subject set, that subject)
// holds any version.
func (st *State) Empty(subject string) bool {
	if subject == "" {
		return len(st.subjects) == 0
	}
	return st.subjects[subject] == nil
}

// NumIDs is the number of distinct schemas stored.
func (st *State) NumIDs() int { return len(st.ids) }
