package rest

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/schemaregistry/catalog"
	"github.com/sluicehq/sluice/schemaregistry/format"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

func (s *server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, struct{}{}) })
	m.HandleFunc("GET /contexts", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, []string{"."}) })
	m.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, format.Types()) })
	m.HandleFunc("GET /schemas", s.listSchemas)
	m.HandleFunc("GET /schemas/ids/{id}", s.schemaByID)
	m.HandleFunc("GET /schemas/ids/{id}/schema", s.schemaTextByID)
	m.HandleFunc("GET /schemas/ids/{id}/subjects", s.subjectsByID)
	m.HandleFunc("GET /schemas/ids/{id}/versions", s.versionsByID)
	m.HandleFunc("GET /subjects", s.listSubjects)
	m.HandleFunc("POST /subjects/{subject}", s.lookup)
	m.HandleFunc("DELETE /subjects/{subject}", s.deleteSubject)
	m.HandleFunc("GET /subjects/{subject}/versions", s.listVersions)
	m.HandleFunc("POST /subjects/{subject}/versions", s.register)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}", s.getVersion)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", s.getVersionText)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", s.referencedBy)
	m.HandleFunc("DELETE /subjects/{subject}/versions/{version}", s.deleteVersion)
	m.HandleFunc("GET /config", s.getConfig)
	m.HandleFunc("PUT /config", s.putConfig)
	m.HandleFunc("DELETE /config", s.deleteConfig)
	m.HandleFunc("GET /config/{subject}", s.getConfig)
	m.HandleFunc("PUT /config/{subject}", s.putConfig)
	m.HandleFunc("DELETE /config/{subject}", s.deleteConfig)
	m.HandleFunc("GET /mode", s.getMode)
	m.HandleFunc("PUT /mode", s.putMode)
	m.HandleFunc("DELETE /mode", s.deleteMode)
	m.HandleFunc("GET /mode/{subject}", s.getMode)
	m.HandleFunc("PUT /mode/{subject}", s.putMode)
	m.HandleFunc("DELETE /mode/{subject}", s.deleteMode)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions", s.compatibility)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", s.compatibility)
	m.HandleFunc("/", s.notFound)
}

// schemaJSON is a version as the API shows it. SchemaType is omitted for
// Avro, References when empty, as Confluent does.
type schemaJSON struct {
	Subject    string            `json:"subject,omitempty"`
	Version    int               `json:"version,omitempty"`
	ID         int               `json:"id,omitempty"`
	SchemaType string            `json:"schemaType,omitempty"`
	References []store.Reference `json:"references,omitempty"`
	Metadata   json.RawMessage   `json:"metadata,omitempty"`
	RuleSet    json.RawMessage   `json:"ruleSet,omitempty"`
	Schema     string            `json:"schema"`
	MaxID      int               `json:"maxId,omitempty"`
}

func apiType(t string) string {
	if format.Normalize(t) == format.Avro {
		return ""
	}
	return t
}

func versionJSON(v catalog.Version) schemaJSON {
	return schemaJSON{Subject: v.Subject, Version: v.Version, ID: v.ID, SchemaType: apiType(v.SchemaType),
		References: v.References, Metadata: v.Metadata, RuleSet: v.RuleSet, Schema: v.Schema}
}

func (s *server) listSchemas(w http.ResponseWriter, r *http.Request) {
	var out []schemaJSON
	s.read(func(st *catalog.State) {
		for _, v := range st.AllSchemas(r.URL.Query().Get("subjectPrefix"), boolParam(r, "deleted"), boolParam(r, "latestOnly")) {
			out = append(out, versionJSON(v))
		}
	})
	if out == nil {
		out = []schemaJSON{}
	}
	writeJSON(w, 200, page(r, out))
}

// byID fetches an id's schema; with ?subject= the id must be used there.
func (s *server) byID(w http.ResponseWriter, r *http.Request) (catalog.Schema, int, bool) {
	id, ok := idParam(w, r)
	if !ok {
		return catalog.Schema{}, 0, false
	}
	var sc catalog.Schema
	var found bool
	var maxID int
	subject := r.URL.Query().Get("subject")
	s.read(func(st *catalog.State) {
		sc, found = st.SchemaByID(id)
		maxID = st.MaxID()
		if found && subject != "" {
			found = false
			for _, u := range st.UsesOfID(id, true) {
				if u.Subject == subject {
					found = true
				}
			}
		}
	})
	if !found {
		writeError(w, catalog.ErrSchemaNotFound())
		return sc, 0, false
	}
	return sc, maxID, true
}

func (s *server) schemaByID(w http.ResponseWriter, r *http.Request) {
	sc, maxID, ok := s.byID(w, r)
	if !ok {
		return
	}
	out := schemaJSON{SchemaType: apiType(sc.SchemaType), References: sc.References, Schema: sc.Schema}
	if boolParam(r, "fetchMaxId") {
		out.MaxID = maxID
		writeJSON(w, 200, out)
		return
	}
	// The hottest route (every consumer's first sight of an id): an id's
	// schema never changes, so its answer is encoded once.
	if c, ok := s.byIDCache.Load(sc.ID); ok {
		if e := c.(cachedSchema); e.schema == sc.Schema {
			w.Header().Set("Content-Type", ContentType)
			w.Write(e.body)
			return
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeError(w, err)
		return
	}
	s.byIDCache.Store(sc.ID, cachedSchema{schema: sc.Schema, body: body})
	w.Header().Set("Content-Type", ContentType)
	w.Write(body)
}

type cachedSchema struct {
	schema string
	body   []byte
}

// writeRaw answers a schema's own text, as /schema endpoints do.
func writeRaw(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(200)
	w.Write([]byte(text))
}

func (s *server) schemaTextByID(w http.ResponseWriter, r *http.Request) {
	if sc, _, ok := s.byID(w, r); ok {
		writeRaw(w, sc.Schema)
	}
}

func (s *server) subjectsByID(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.byID(w, r); !ok {
		return
	}
	id, _ := idParam(w, r)
	out := []string{}
	s.read(func(st *catalog.State) {
		seen := map[string]bool{}
		for _, u := range st.UsesOfID(id, boolParam(r, "deleted")) {
			if !seen[u.Subject] {
				seen[u.Subject] = true
				out = append(out, u.Subject)
			}
		}
	})
	writeJSON(w, 200, page(r, out))
}

func (s *server) versionsByID(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.byID(w, r); !ok {
		return
	}
	id, _ := idParam(w, r)
	var out []catalog.SubjectVersion
	s.read(func(st *catalog.State) { out = st.UsesOfID(id, boolParam(r, "deleted")) })
	writeJSON(w, 200, page(r, out))
}

func (s *server) listSubjects(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("subjectPrefix")
	if prefix == ":*:" {
		prefix = ""
	}
	var out []string
	s.read(func(st *catalog.State) {
		out = st.Subjects(prefix, boolParam(r, "deleted"), boolParam(r, "deletedOnly"))
	})
	writeJSON(w, 200, page(r, out))
}

func (s *server) listVersions(w http.ResponseWriter, r *http.Request) {
	var vs []catalog.Version
	var err error
	s.read(func(st *catalog.State) {
		vs, err = st.Versions(r.PathValue("subject"), boolParam(r, "deleted"), boolParam(r, "deletedOnly"))
	})
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Version)
	}
	writeJSON(w, 200, page(r, out))
}

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	var req catalog.SchemaRequest
	if !readBody(w, r, &req) {
		return
	}
	subject := r.PathValue("subject")
	var res catalog.Registered
	ok := s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, reg, err := st.PlanRegister(subject, req, boolParam(r, "normalize"))
		res = reg
		if err != nil {
			if e := catalog.AsError(err); e.Code == catalog.CodeIncompatibleSchema {
				s.metrics.compat("incompatible")
			}
			return nil, err
		}
		return recs, nil
	})
	if !ok {
		return
	}
	if res.Checked {
		s.metrics.compat("compatible")
	}
	writeJSON(w, 200, map[string]int{"id": res.ID})
}

func (s *server) lookup(w http.ResponseWriter, r *http.Request) {
	var req catalog.SchemaRequest
	if !readBody(w, r, &req) {
		return
	}
	var v catalog.Version
	var err error
	s.read(func(st *catalog.State) {
		v, err = st.Lookup(r.PathValue("subject"), req, boolParam(r, "normalize"), boolParam(r, "deleted"))
	})
	if err != nil {
		writeError(w, err)
		return
	}
	out := versionJSON(v)
	out.Metadata, out.RuleSet = nil, nil
	writeJSON(w, 200, out)
}

func (s *server) getVersion(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.version(w, r); ok {
		writeJSON(w, 200, versionJSON(v))
	}
}

func (s *server) version(w http.ResponseWriter, r *http.Request) (catalog.Version, bool) {
	n, ok := versionParam(w, r)
	if !ok {
		return catalog.Version{}, false
	}
	var v catalog.Version
	var err error
	s.read(func(st *catalog.State) { v, err = st.GetVersion(r.PathValue("subject"), n, boolParam(r, "deleted")) })
	if err != nil {
		writeError(w, err)
		return v, false
	}
	return v, true
}

func (s *server) getVersionText(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.version(w, r); ok {
		writeRaw(w, v.Schema)
	}
}

func (s *server) referencedBy(w http.ResponseWriter, r *http.Request) {
	v, ok := s.version(w, r)
	if !ok {
		return
	}
	var ids []int
	s.read(func(st *catalog.State) { ids = st.ReferencedBy(v.Subject, v.Version) })
	writeJSON(w, 200, page(r, ids))
}

func (s *server) deleteVersion(w http.ResponseWriter, r *http.Request) {
	n, ok := versionParam(w, r)
	if !ok {
		return
	}
	if s.forward(w, r) {
		return
	}
	var deleted int
	if s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, v, err := st.PlanDeleteVersion(r.PathValue("subject"), n, boolParam(r, "permanent"))
		deleted = v
		return recs, err
	}) {
		writeJSON(w, 200, deleted)
	}
}

func (s *server) deleteSubject(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	var versions []int
	if s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, vs, err := st.PlanDeleteSubject(r.PathValue("subject"), boolParam(r, "permanent"))
		versions = vs
		return recs, err
	}) {
		writeJSON(w, 200, versions)
	}
}

// configJSON answers GET and DELETE /config; Confluent names the level
// compatibilityLevel here.
func configJSON(c store.ConfigValue) map[string]any {
	out := map[string]any{"compatibilityLevel": c.CompatibilityLevel}
	if c.Normalize != nil {
		out["normalize"] = *c.Normalize
	}
	return out
}

func (s *server) getConfig(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	var c store.ConfigValue
	var ok bool
	s.read(func(st *catalog.State) { c, ok = st.Config(subject, boolParam(r, "defaultToGlobal")) })
	if !ok {
		writeError(w, catalog.Errf(catalog.CodeSubjectCompatibilityNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject))
		return
	}
	writeJSON(w, 200, configJSON(c))
}

func (s *server) putConfig(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	var req catalog.ConfigRequest
	if !readBody(w, r, &req) {
		return
	}
	var c store.ConfigValue
	if s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, v, err := st.PlanSetConfig(r.PathValue("subject"), req)
		c = v
		return recs, err
	}) {
		out := map[string]any{"compatibility": c.CompatibilityLevel}
		if c.Normalize != nil {
			out["normalize"] = *c.Normalize
		}
		writeJSON(w, 200, out)
	}
}

func (s *server) deleteConfig(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	var c store.ConfigValue
	if s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, v, err := st.PlanDeleteConfig(r.PathValue("subject"))
		c = v
		return recs, err
	}) {
		writeJSON(w, 200, configJSON(c))
	}
}

func (s *server) getMode(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	var m string
	var ok bool
	s.read(func(st *catalog.State) { m, ok = st.Mode(subject, boolParam(r, "defaultToGlobal")) })
	if !ok {
		writeError(w, catalog.Errf(catalog.CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject))
		return
	}
	writeJSON(w, 200, map[string]string{"mode": m})
}

func (s *server) putMode(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	var req struct {
		Mode string `json:"mode"`
	}
	if !readBody(w, r, &req) {
		return
	}
	var m string
	if s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, v, err := st.PlanSetMode(r.PathValue("subject"), req.Mode, boolParam(r, "force"))
		m = v
		return recs, err
	}) {
		writeJSON(w, 200, map[string]string{"mode": m})
	}
}

func (s *server) deleteMode(w http.ResponseWriter, r *http.Request) {
	if s.forward(w, r) {
		return
	}
	var m string
	if s.write(w, r, func(st *catalog.State) ([]store.Record, error) {
		recs, v, err := st.PlanDeleteMode(r.PathValue("subject"))
		m = v
		return recs, err
	}) {
		writeJSON(w, 200, map[string]string{"mode": m})
	}
}

func (s *server) compatibility(w http.ResponseWriter, r *http.Request) {
	version := 0
	if r.PathValue("version") != "" {
		n, ok := versionParam(w, r)
		if !ok {
			return
		}
		version = n
	}
	var req catalog.SchemaRequest
	if !readBody(w, r, &req) {
		return
	}
	var okc bool
	var msgs []string
	var err error
	s.read(func(st *catalog.State) {
		okc, msgs, err = st.CheckCompatibility(r.PathValue("subject"), version, req, boolParam(r, "normalize"))
	})
	if err != nil {
		writeError(w, err)
		return
	}
	if okc {
		s.metrics.compat("compatible")
	} else {
		s.metrics.compat("incompatible")
	}
	out := map[string]any{"is_compatible": okc}
	if boolParam(r, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	writeJSON(w, 200, out)
}
