// Package rest serves the Confluent Schema Registry REST API over a
// catalog (reads, from memory) and a Service that appends writes to the
// _schemas log. Errors are Confluent's {"error_code":N,"message":"..."} with
// the codes of catalog's error catalogue; a follower forwards writes to the
// leader as Confluent's registry does.
package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/schemaregistry/catalog"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// Service is what the API needs from the registry around it.
type Service interface {
	// Catalog is the in-memory state reads are answered from.
	Catalog() *catalog.Catalog
	// Write runs plan under the registry's single-writer lock, appends the
	// records it returns and waits until they are applied. plan's error is
	// returned as is.
	Write(ctx context.Context, plan func(st *catalog.State) ([]store.Record, error)) error
	// Leader says whether this instance takes writes and, if not, the base
	// URL of the one that does ("" when unknown).
	Leader() (self bool, leaderURL string)
}

// Options tune the API.
type Options struct {
	// MaxBodyBytes bounds request bodies (default 16 MiB); larger ones are
	// answered 413.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Registerer receives the API's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// ContentType is what every answer carries, as Confluent's registry.
const ContentType = "application/vnd.schemaregistry.v1+json"

// forwardedHeader marks a request a follower forwarded, so it is never
// forwarded twice.
const forwardedHeader = "X-Sluice-Forwarded"

type server struct {
	svc     Service
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	mux     *http.ServeMux
	// byIDCache holds encoded GET /schemas/ids/{id} answers by id.
	byIDCache sync.Map
}

// New returns the API's handler.
func New(svc Service, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{svc: svc, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	s.metrics = newMetrics(opts.Registerer, svc.Catalog())
	s.routes()
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: 200}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("schema registry: handler panic", "path", r.URL.Path, "panic", p)
			if !rw.wrote {
				writeError(rw, catalog.Errf(catalog.CodeInternalError, "Internal server error"))
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, rw.status, time.Since(start))
	}()
	if r.Body != nil {
		r.Body = http.MaxBytesReader(rw, r.Body, s.opts.MaxBodyBytes)
	}
	s.mux.ServeHTTP(rw, r)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, catalog.Errf(catalog.CodeInternalError, "encoding answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	e := catalog.AsError(err)
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(e.Status())
	w.Write(b)
}

// readBody decodes a JSON request body into v, answering the errors itself.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			writeError(w, catalog.Errf(catalog.CodeUnsupportedMedia, "Unsupported Content-Type %q", ct))
			return false
		case mt == "application/vnd.schemaregistry.v1+json", mt == "application/vnd.schemaregistry+json",
			mt == "application/json", mt == "application/octet-stream", mt == "text/plain",
			mt == "application/x-www-form-urlencoded": // curl -d sends this by default
		default:
			writeError(w, catalog.Errf(catalog.CodeUnsupportedMedia, "Unsupported Content-Type %q: send application/vnd.schemaregistry.v1+json", ct))
			return false
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, catalog.Errf(catalog.CodeEntityTooLarge, "Request body larger than %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, catalog.Errf(catalog.CodeBadRequest, "Reading request body: %v", err))
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeError(w, catalog.Errf(catalog.CodeUnprocessable, "Request body is empty"))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, catalog.Errf(catalog.CodeBadRequest, "Malformed JSON request body: %v", err))
		return false
	}
	return true
}

func boolParam(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// page applies the offset and limit query parameters.
func page[T any](r *http.Request, items []T) []T {
	q := r.URL.Query()
	if off, err := strconv.Atoi(q.Get("offset")); err == nil && off > 0 {
		if off >= len(items) {
			return items[:0]
		}
		items = items[off:]
	}
	if lim, err := strconv.Atoi(q.Get("limit")); err == nil && lim >= 0 && lim < len(items) {
		items = items[:lim]
	}
	return items
}

// forward sends a write to the leader when this instance is a follower and
// reports whether it did (and so answered).
func (s *server) forward(w http.ResponseWriter, r *http.Request) bool {
	self, leader := s.svc.Leader()
	if self {
		return false
	}
	if leader == "" {
		writeError(w, catalog.Errf(catalog.CodeUnknownLeader, "Leader is unknown; cannot forward the request"))
		return true
	}
	if r.Header.Get(forwardedHeader) != "" {
		writeError(w, catalog.Errf(catalog.CodeForwardingFailed, "Error while forwarding the request to the leader: the leader forwarded it back"))
		return true
	}
	target, err := url.Parse(leader)
	if err != nil {
		writeError(w, catalog.Errf(catalog.CodeForwardingFailed, "Error while forwarding the request to the leader: %v", err))
		return true
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(forwardedHeader, "1")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, catalog.Errf(catalog.CodeForwardingFailed, "Error while forwarding the request to the leader: %v", err))
		},
	}
	p.ServeHTTP(w, r)
	return true
}

// write runs a plan through the service, forwarding to the leader if needed.
func (s *server) write(w http.ResponseWriter, r *http.Request, plan func(st *catalog.State) ([]store.Record, error)) bool {
	if err := s.svc.Write(r.Context(), plan); err != nil {
		var e *catalog.Error
		if !errors.As(err, &e) {
			s.log.Warn("schema registry: write failed", "path", r.URL.Path, "err", err)
			if errors.Is(err, context.DeadlineExceeded) {
				err = catalog.Errf(catalog.CodeOperationTimeout, "Operation timed out: %v", err)
			}
		}
		writeError(w, err)
		return false
	}
	return true
}

func (s *server) read(f func(st *catalog.State)) { s.svc.Catalog().Read(f) }

// notFound answers what no route matched: 405 when the path exists for
// another method, 404 otherwise, both as JSON errors.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		if m == r.Method {
			continue
		}
		other := r.Clone(r.Context())
		other.Method = m
		if _, pattern := s.mux.Handler(other); pattern != "/" {
			w.Header().Set("Allow", m)
			writeError(w, catalog.Errf(catalog.CodeMethodNotAllowed, "HTTP 405 Method Not Allowed: %s %s", r.Method, r.URL.Path))
			return
		}
	}
	writeError(w, catalog.Errf(catalog.CodeNotFound, "HTTP 404 Not Found: %s %s", r.Method, r.URL.Path))
}

func versionParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	v, err := catalog.ParseVersion(r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return 0, false
	}
	return v, true
}

func idParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 0 {
		writeError(w, catalog.Errf(catalog.CodeNotFound, "Schema id %q is not a number", r.PathValue("id")))
		return 0, false
	}
	return id, true
}
