package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStreamsCommandRegistered(t *testing.T) {
	out, errOut, code := jobRun(t, "streams", "--help")
	if code != 0 || !strings.Contains(out, "--bootstrap") || !strings.Contains(out, "--jobs-topic") {
		t.Fatalf("streams --help: %d %q %q", code, out, errOut)
	}
}

func TestStreamsRoutes(t *testing.T) {
	jobs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("jobs")) })
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("rest")) })
	h := streamsRoutes(jobs, rest)
	for path, want := range map[string]string{"/api/v1/jobs": "jobs", "/api/v1/jobs/x/pause": "jobs", "/metrics": "rest"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Body.String() != want {
			t.Errorf("%s -> %q, want %q", path, rec.Body.String(), want)
		}
	}
}
