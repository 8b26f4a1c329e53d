// Package rest is Kafka Connect's REST API over a herder: the same paths,
// status codes and JSON shapes, so Connect tooling (kcctl, Terraform
// providers, consoles) works against Sluice unchanged.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connect/herder"
)

// Version is what GET / reports as the Kafka version compatibility level.
const Version = "4.0.0"

// Server serves the API for one worker.
type Server struct {
	h         *herder.Herder
	clusterID string
	mux       *http.ServeMux
}

// New builds the handler.
func New(h *herder.Herder, clusterID string) *Server {
	s := &Server{h: h, clusterID: clusterID, mux: http.NewServeMux()}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is Kafka Connect's error body.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Code: status, Message: msg})
}

// fail maps herder errors to Kafka Connect's codes.
func fail(w http.ResponseWriter, err error) {
	var ve *herder.ValidationError
	switch {
	case errors.As(err, &ve):
		writeErr(w, http.StatusBadRequest, ve.Error())
	case errors.Is(err, herder.ErrNotFound):
		writeErr(w, http.StatusNotFound, strings.TrimSuffix(err.Error(), ": "+herder.ErrNotFound.Error()))
	case errors.Is(err, herder.ErrExists):
		writeErr(w, http.StatusConflict, strings.TrimSuffix(err.Error(), ": "+herder.ErrExists.Error()))
	case errors.Is(err, herder.ErrBadInput):
		writeErr(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+herder.ErrBadInput.Error()))
	case errors.Is(err, context.DeadlineExceeded):
		writeErr(w, http.StatusInternalServerError, "Request timed out")
	default:
		writeErr(w, http.StatusInternalServerError, err.Error())
	}
}

func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 90*time.Second)
}

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]string{"version": Version, "commit": "sluice", "kafka_cluster_id": s.clusterID})
	})
	m.HandleFunc("GET /connectors", s.list)
	m.HandleFunc("POST /connectors", s.toLeader(s.create))
	m.HandleFunc("GET /connectors/{c}", s.withInfo(func(w http.ResponseWriter, info *herder.ConnectorInfo) { writeJSON(w, 200, info) }))
	m.HandleFunc("GET /connectors/{c}/config", s.withInfo(func(w http.ResponseWriter, info *herder.ConnectorInfo) { writeJSON(w, 200, info.Config) }))
	m.HandleFunc("PUT /connectors/{c}/config", s.toLeader(s.putConfig))
	m.HandleFunc("GET /connectors/{c}/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.h.Status(r.PathValue("c"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, st)
	})
	m.HandleFunc("GET /connectors/{c}/tasks", func(w http.ResponseWriter, r *http.Request) {
		ts, err := s.h.Tasks(r.PathValue("c"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, ts)
	})
	m.HandleFunc("GET /connectors/{c}/tasks/{t}/status", func(w http.ResponseWriter, r *http.Request) {
		t, err := strconv.Atoi(r.PathValue("t"))
		if err != nil {
			writeErr(w, 404, "Task "+r.PathValue("t")+" not found")
			return
		}
		st, err := s.h.TaskStatus(r.PathValue("c"), t)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, st)
	})
	m.HandleFunc("POST /connectors/{c}/restart", s.toLeader(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		inc, only := q.Get("includeTasks") == "true", q.Get("onlyFailed") == "true"
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := s.h.Restart(ctx, r.PathValue("c"), inc, only); err != nil {
			fail(w, err)
			return
		}
		if !inc && !only {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		st, err := s.h.Status(r.PathValue("c"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, st)
	}))
	m.HandleFunc("POST /connectors/{c}/tasks/{t}/restart", s.restartTask)
	for path, st := range map[string]string{"pause": herder.TargetPaused, "resume": herder.TargetStarted, "stop": herder.TargetStopped} {
		st := st
		m.HandleFunc("PUT /connectors/{c}/"+path, s.toLeader(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := reqCtx(r)
			defer cancel()
			if err := s.h.SetTarget(ctx, r.PathValue("c"), st); err != nil {
				fail(w, err)
				return
			}
			if st == herder.TargetStopped {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}))
	}
	m.HandleFunc("DELETE /connectors/{c}", s.toLeader(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := s.h.Delete(ctx, r.PathValue("c")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	m.HandleFunc("GET /connector-plugins", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, herder.Plugins()) })
	m.HandleFunc("PUT /connector-plugins/{p}/config/validate", s.validate)
	m.HandleFunc("GET /connector-plugins/{p}/config", func(w http.ResponseWriter, r *http.Request) {
		defs, err := herder.PluginConfig(r.PathValue("p"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, defs)
	})
	m.HandleFunc("PATCH /connectors/{c}/config", s.toLeader(func(w http.ResponseWriter, r *http.Request) {
		var patch patchMap
		if err := decode(r, &patch); err != nil {
			writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
			return
		}
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := s.h.Patch(ctx, r.PathValue("c"), patch); err != nil {
			fail(w, err)
			return
		}
		info, err := s.h.Info(r.PathValue("c"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, info)
	}))
	m.HandleFunc("DELETE /connectors/{c}/offsets", s.toLeader(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := s.h.ResetOffsets(ctx, r.PathValue("c")); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, map[string]string{"message": "The offsets for this connector have been reset successfully"})
	}))
	m.HandleFunc("GET /connectors/{c}/offsets", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := reqCtx(r)
		defer cancel()
		offs, err := s.h.Offsets(ctx, r.PathValue("c"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"offsets": offs})
	})
	m.HandleFunc("PATCH /connectors/{c}/offsets", s.toLeader(s.alterOffsets))
	m.HandleFunc("GET /connectors/{c}/topics", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("c")
		topics, err := s.h.ActiveTopics(name)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{name: map[string][]string{"topics": topics}})
	})
	m.HandleFunc("PUT /connectors/{c}/topics/reset", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := reqCtx(r)
		defer cancel()
		if err := s.h.ResetTopics(ctx, r.PathValue("c")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	m.HandleFunc("GET /admin/loggers", s.loggers)
	m.HandleFunc("GET /admin/loggers/{logger}", s.logger)
	m.HandleFunc("PUT /admin/loggers/{logger}", s.setLogger)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeErr(w, 404, "HTTP 404 Not Found") })
}

// forwardedHeader marks a request a worker forwarded to the leader, so it
// is never forwarded twice.
const forwardedHeader = "X-Sluice-Connect-Forwarded"

// toLeader wraps a write: on a worker that is not the group's leader it
// forwards the request to the leader (as Kafka Connect does), so one worker
// orders every config change. While no leader is known it answers 409, as
// Kafka Connect does during a rebalance.
func (s *Server) toLeader(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		self, leader := s.h.Leader()
		if self || r.Header.Get(forwardedHeader) != "" {
			next(w, r)
			return
		}
		if leader == "" {
			writeErr(w, http.StatusConflict, "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.")
			return
		}
		s.forward(w, r, leader)
	}
}

// forward proxies a request to another worker of the cluster, once.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, to string) {
	target, err := url.Parse(to)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, "bad worker URL "+to)
		return
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		writeErr(w, http.StatusConflict, "Cannot complete request because of a conflicting operation (e.g. worker rebalance): forwarding to "+to+": "+err.Error())
	}
	r.Header.Set(forwardedHeader, "1")
	proxy.ServeHTTP(w, r)
}

// restartTask restarts a task on the worker that runs it: here, or
// forwarded to the owner named in its status, as Kafka Connect does.
func (s *Server) restartTask(w http.ResponseWriter, r *http.Request) {
	t, err := strconv.Atoi(r.PathValue("t"))
	if err != nil {
		writeErr(w, 404, "Task "+r.PathValue("t")+" not found")
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	owner, err := s.h.RestartTask(ctx, r.PathValue("c"), t)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
		return
	case !errors.Is(err, herder.ErrNotOwner):
		fail(w, err)
		return
	}
	if owner == "" || r.Header.Get(forwardedHeader) != "" {
		writeErr(w, http.StatusConflict, "Cannot complete request because of a conflicting operation (e.g. worker rebalance)")
		return
	}
	s.forward(w, r, owner)
}

func (s *Server) withInfo(fn func(http.ResponseWriter, *herder.ConnectorInfo)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info, err := s.h.Info(r.PathValue("c"))
		if err != nil {
			fail(w, err)
			return
		}
		fn(w, info)
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	names := s.h.Connectors()
	expand := r.URL.Query()["expand"]
	if len(expand) == 0 {
		writeJSON(w, 200, names)
		return
	}
	out := map[string]map[string]any{}
	for _, n := range names {
		e := map[string]any{}
		for _, x := range expand {
			switch x {
			case "status":
				if st, err := s.h.Status(n); err == nil {
					e["status"] = st
				}
			case "info":
				if info, err := s.h.Info(n); err == nil {
					e["info"] = info
				}
			}
		}
		out[n] = e
	}
	writeJSON(w, 200, out)
}

type createReq struct {
	Name         string    `json:"name"`
	Config       configMap `json:"config"`
	InitialState string    `json:"initial_state"`
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req createReq
	if err := decode(r, &req); err != nil {
		writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
		return
	}
	if req.Name == "" {
		req.Name = req.Config["name"]
	}
	if req.Name == "" {
		writeErr(w, 400, "Connector name must be specified")
		return
	}
	if req.Config == nil {
		writeErr(w, 400, "Connector config must be specified")
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if _, err := s.h.Put(ctx, req.Name, req.Config, true, req.InitialState); err != nil {
		fail(w, err)
		return
	}
	info, err := s.h.Info(req.Name)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Location", "/connectors/"+req.Name)
	writeJSON(w, http.StatusCreated, info)
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	var cfg configMap
	if err := decode(r, &cfg); err != nil {
		writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
		return
	}
	name := r.PathValue("c")
	ctx, cancel := reqCtx(r)
	defer cancel()
	created, err := s.h.Put(ctx, name, cfg, false, "")
	if err != nil {
		fail(w, err)
		return
	}
	info, err := s.h.Info(name)
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/connectors/"+name)
	}
	writeJSON(w, status, info)
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	var cfg configMap
	if err := decode(r, &cfg); err != nil {
		writeErr(w, 400, "Request body is not valid JSON: "+err.Error())
		return
	}
	p := r.PathValue("p")
	if c, ok := cfg["connector.class"]; !ok || c == "" {
		writeErr(w, 400, "Connector config "+mapString(cfg)+" contains no connector type")
		return
	}
	_ = p
	writeJSON(w, 200, herder.Validate(cfg))
}

func mapString(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}
