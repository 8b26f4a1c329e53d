package streams

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"

	"github.com/sluicehq/sluice/streams/spec"
)

// maxSpecBytes bounds a job definition accepted by the API.
const maxSpecBytes = 1 << 20

// APIError is the body of every failed job API call.
type APIError struct {
	Message string       `json:"message"`
	Errors  []FieldError `json:"errors,omitempty"` // validation problems, by position
}

// FieldError is one validation problem at a line and column of the spec.
type FieldError struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// Handler serves the job API:
//
//	POST   /api/v1/jobs                 apply a job (YAML or JSON body)
//	GET    /api/v1/jobs                 list jobs
//	GET    /api/v1/jobs/{name}          describe a job
//	DELETE /api/v1/jobs/{name}          delete a job
//	POST   /api/v1/jobs/{name}/pause    pause a job
//	POST   /api/v1/jobs/{name}/resume   resume a job
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/jobs", e.handleApply)
	mux.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		jobsWriteJSON(w, http.StatusOK, e.Jobs())
	})
	mux.HandleFunc("GET /api/v1/jobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		ji, ok := e.Job(r.PathValue("name"))
		if !ok {
			jobsWriteError(w, http.StatusNotFound, ErrNotFound)
			return
		}
		jobsWriteJSON(w, http.StatusOK, ji)
	})
	mux.HandleFunc("DELETE /api/v1/jobs/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := e.Delete(r.Context(), r.PathValue("name")); err != nil {
			jobsWriteError(w, jobsStatusOf(err), err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	for _, action := range []string{"pause", "resume"} {
		paused := action == "pause"
		mux.HandleFunc("POST /api/v1/jobs/{name}/"+action, func(w http.ResponseWriter, r *http.Request) {
			ji, err := e.SetPaused(r.Context(), r.PathValue("name"), paused)
			if err != nil {
				jobsWriteError(w, jobsStatusOf(err), err)
				return
			}
			jobsWriteJSON(w, http.StatusOK, ji)
		})
	}
	return mux
}

func (e *Engine) handleApply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSpecBytes))
	if err != nil {
		jobsWriteError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	// YAML is a superset of JSON, so one parser takes both bodies.
	ji, err := e.Apply(r.Context(), body)
	if err != nil {
		jobsWriteError(w, jobsStatusOf(err), err)
		return
	}
	jobsWriteJSON(w, http.StatusOK, ji)
}

func jobsStatusOf(err error) int {
	var se spec.Errors
	switch {
	case errors.As(err, &se):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func jobsWriteError(w http.ResponseWriter, code int, err error) {
	body := APIError{Message: err.Error()}
	var se spec.Errors
	if errors.As(err, &se) {
		body.Message = "invalid job"
		for _, e := range se {
			body.Errors = append(body.Errors, FieldError{Line: e.Pos.Line, Column: e.Pos.Col, Path: e.Path, Message: e.Msg})
		}
		sort.SliceStable(body.Errors, func(i, k int) bool { return body.Errors[i].Line < body.Errors[k].Line })
	}
	jobsWriteJSON(w, code, body)
}

func jobsWriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
