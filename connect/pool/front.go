package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// apiError is Kafka Connect's error body.
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Code: code, Message: msg})
}

// maxBody bounds what the front buffers of a request (connector configs and
// capacity documents are small).
const maxBody = 16 << 20

func (s *Supervisor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/capacity", s.serveCapacity)
	mux.HandleFunc("/admin/workers", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "HTTP "+r.Method+" not allowed on /admin/workers")
			return
		}
		writeJSON(w, http.StatusOK, s.Workers())
	})
	mux.Handle("/", &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// The transport picks the worker; this host is a placeholder.
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "connect-worker"
			r.SetXForwarded()
		},
		Transport: &workerTransport{s: s, base: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		}},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusServiceUnavailable, "connect pool: "+err.Error())
		},
	})
	return mux
}

func (s *Supervisor) serveCapacity(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Capacity())
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "reading the request: "+err.Error())
			return
		}
		c, err := ParseCapacity(body)
		if err == nil {
			err = s.SetCapacity(c)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.Capacity())
	default:
		writeError(w, http.StatusMethodNotAllowed, "HTTP "+r.Method+" not allowed on /admin/capacity")
	}
}

// errNoWorker is the proxy's answer while no worker is ready.
var errNoWorker = errors.New("no Connect worker is ready")

// workerTransport sends a request to a ready worker, trying the next one
// when a worker cannot be dialled (it just stopped or died): the request
// never reached it, so a retry cannot apply a write twice.
type workerTransport struct {
	s    *Supervisor
	base http.RoundTripper
}

func (t *workerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	targets := t.s.targets()
	if len(targets) == 0 {
		return nil, errNoWorker
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxBody))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	var lastErr error
	for _, target := range targets {
		u, err := url.Parse(target)
		if err != nil {
			continue
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, u.Host
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
		}
		resp, err := t.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			break
		}
	}
	return nil, fmt.Errorf("no Connect worker reachable: %w", lastErr)
}
