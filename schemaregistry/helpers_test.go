package schemaregistry_test

import (
	"github.com/sluicehq/sluice/internal/testenv"

	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/schemaregistry"
)

// startKafka starts a Kafka for one test and returns its bootstrap address.
// It is the one place that knows which Kafka the tests use.
func startKafka(t testing.TB) string {
	t.Helper()
	return testenv.StartBroker(t).Addr
}

type testRegistry struct {
	*schemaregistry.Registry
	url    string
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with err set
	err    error
}

// stop stops the instance and waits for Run to return.
func (r *testRegistry) stop() {
	r.cancel()
	<-r.done
}

func startRegistry(t testing.TB, bootstrap string, mod ...func(*schemaregistry.Config)) *testRegistry {
	t.Helper()
	cfg := schemaregistry.Config{
		Bootstrap: []string{bootstrap},
		Addr:      "127.0.0.1:0",
		// One instance per test unless a test says otherwise: only the
		// election test needs the Kafka group protocol.
		NoElection: true,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, m := range mod {
		m(&cfg)
	}
	reg, err := schemaregistry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testRegistry{Registry: reg, url: reg.URL(), cancel: cancel, done: make(chan struct{})}
	go func() {
		tr.err = reg.Run(ctx)
		close(tr.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-tr.done
		reg.Close()
	})
	for reg.Ready() != nil {
		select {
		case <-tr.done:
			t.Fatalf("registry stopped: %v", tr.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return tr
}

type answer struct {
	status int
	body   []byte
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
}

// code is the error_code of an error answer.
func (a answer) code(t testing.TB) int {
	t.Helper()
	var e struct {
		Code int `json:"error_code"`
	}
	a.json(t, &e)
	return e.Code
}

func do(t testing.TB, method, url string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, out}
}

// expect checks an answer's status and, for errors, its error_code.
func expect(t testing.TB, a answer, status, code int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if code != 0 {
		if got := a.code(t); got != code {
			t.Fatalf("error_code %d, want %d: %s", got, code, a.body)
		}
	}
}

func register(t testing.TB, base, subject string, body any) int {
	t.Helper()
	a := do(t, "POST", base+"/subjects/"+subject+"/versions", body)
	expect(t, a, 200, 0)
	var r struct{ ID int }
	a.json(t, &r)
	return r.ID
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
