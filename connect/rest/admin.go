package rest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/sluicehq/sluice/connect/herder"
	"github.com/sluicehq/sluice/connect/runtime"
)

// alterOffsets is PATCH /connectors/{c}/offsets (KIP-875).
func (s *Server) alterOffsets(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
		return
	}
	var req struct {
		Offsets []herder.Offset `json:"offsets"`
	}
	// Numbers stay as written: source offsets (log positions) may exceed
	// what a float64 holds exactly.
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err := s.h.AlterOffsets(ctx, r.PathValue("c"), req.Offsets); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"message": "The offsets for this connector have been altered successfully"})
}

func (s *Server) loggers(w http.ResponseWriter, _ *http.Request) {
	l := s.h.Loggers()
	if l == nil {
		writeJSON(w, 200, map[string]runtime.LoggerLevel{})
		return
	}
	writeJSON(w, 200, l.All())
}

func (s *Server) logger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("logger")
	l := s.h.Loggers()
	var lv runtime.LoggerLevel
	ok := false
	if l != nil {
		lv, ok = l.Level(name)
	}
	if !ok {
		writeErr(w, 404, "Logger "+name+" not found.")
		return
	}
	writeJSON(w, 200, lv)
}

// setLogger is PUT /admin/loggers/{logger}: this worker by default (200
// with the loggers changed), every worker with ?scope=cluster (204).
func (s *Server) setLogger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("logger")
	var req map[string]*string
	if err := decode(r, &req); err != nil {
		writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
		return
	}
	lvl := req["level"]
	if lvl == nil {
		writeErr(w, 400, "Desired 'level' parameter was not specified in the request.")
		return
	}
	if _, err := runtime.ParseLevel(*lvl); err != nil {
		writeErr(w, 400, err.Error())
		return
	}
	if r.URL.Query().Get("scope") == "cluster" {
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := s.h.SetClusterLoggerLevel(ctx, name, *lvl); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	l := s.h.Loggers()
	if l == nil {
		writeErr(w, 404, "Logger "+name+" not found.")
		return
	}
	changed, err := l.SetLevel(name, *lvl)
	if err != nil {
		writeErr(w, 400, err.Error())
		return
	}
	writeJSON(w, 200, changed)
}
