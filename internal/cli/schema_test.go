package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/schemaregistry/catalog"
	"github.com/sluicehq/sluice/schemaregistry/compat"
	"github.com/sluicehq/sluice/schemaregistry/rest"
	"github.com/sluicehq/sluice/schemaregistry/store"
)

// memRegistry serves the real REST API over a catalog that applies its
// records directly (through their encoded form), without Kafka: the CLI
// only needs an HTTP registry to talk to.
type memRegistry struct {
	mu  sync.Mutex
	cat *catalog.Catalog
}

func (m *memRegistry) Catalog() *catalog.Catalog { return m.cat }
func (m *memRegistry) Leader() (bool, string)    { return true, "" }
func (m *memRegistry) Write(_ context.Context, plan func(*catalog.State) ([]store.Record, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var recs []store.Record
	var err error
	m.cat.Read(func(st *catalog.State) { recs, err = plan(st) })
	if err != nil {
		return err
	}
	for _, r := range recs {
		k, v, err := r.Encode()
		if err != nil {
			return err
		}
		back, err := store.Decode(k, v)
		if err != nil {
			return err
		}
		m.cat.Apply(back)
	}
	return nil
}

func runSchemaCLI(t *testing.T, url string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"schema", "--registry", url}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestSchemaCommands(t *testing.T) {
	srv := httptest.NewServer(rest.New(&memRegistry{cat: catalog.New(compat.Backward)}, rest.Options{}))
	defer srv.Close()
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.avsc")
	os.WriteFile(v1, []byte(`{"type":"record","name":"U","fields":[{"name":"id","type":"long"}]}`), 0o644)
	bad := filepath.Join(dir, "bad.avsc")
	os.WriteFile(bad, []byte(`{"type":"record","name":"U","fields":[{"name":"id","type":"string"}]}`), 0o644)

	out, errs, code := runSchemaCLI(t, srv.URL, "register", "users", "-f", v1, "-o", "json")
	if code != 0 {
		t.Fatalf("register: %d %s", code, errs)
	}
	var reg map[string]any
	if err := json.Unmarshal([]byte(out), &reg); err != nil || reg["id"] != 1.0 || reg["version"] != 1.0 {
		t.Fatalf("register output %q: %v", out, err)
	}
	out, _, code = runSchemaCLI(t, srv.URL, "get", "users")
	if code != 0 || !strings.Contains(out, "users") || !strings.Contains(out, "AVRO") {
		t.Fatalf("get: %d %q", code, out)
	}
	out, _, code = runSchemaCLI(t, srv.URL, "get", "--id", "1", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "schema:") {
		t.Fatalf("get by id: %d %q", code, out)
	}
	out, _, code = runSchemaCLI(t, srv.URL, "list")
	if code != 0 || !strings.Contains(out, "users") {
		t.Fatalf("list: %d %q", code, out)
	}
	out, _, code = runSchemaCLI(t, srv.URL, "check", "users", "-f", bad)
	if code == 0 || !strings.Contains(out, "TYPE_MISMATCH") {
		t.Fatalf("check of an incompatible schema: %d %q", code, out)
	}
	_, _, code = runSchemaCLI(t, srv.URL, "check", "users", "-f", v1)
	if code != 0 {
		t.Fatalf("check of the same schema failed")
	}
	_, errs, code = runSchemaCLI(t, srv.URL, "register", "users", "-f", bad)
	if code == 0 || !strings.Contains(errs, "error code 409") {
		t.Fatalf("incompatible register: %d %q", code, errs)
	}
	out, _, code = runSchemaCLI(t, srv.URL, "config", "users", "--set", "none")
	if code != 0 || !strings.Contains(out, "NONE") {
		t.Fatalf("config set: %d %q", code, out)
	}
	_, errs, code = runSchemaCLI(t, srv.URL, "config", "--set", "sometimes")
	if code == 0 || !strings.Contains(errs, "42203") {
		t.Fatalf("bad level: %d %q", code, errs)
	}
	out, _, code = runSchemaCLI(t, srv.URL, "mode", "--set", "readonly")
	if code != 0 || !strings.Contains(out, "READONLY") {
		t.Fatalf("mode: %d %q", code, out)
	}
	_, errs, code = runSchemaCLI(t, srv.URL, "delete", "users")
	if code == 0 || !strings.Contains(errs, "42205") {
		t.Fatalf("delete in read-only mode: %d %q", code, errs)
	}
	runSchemaCLI(t, srv.URL, "mode", "--set", "readwrite")
	out, _, code = runSchemaCLI(t, srv.URL, "delete", "users")
	if code != 0 || !strings.Contains(out, "1") {
		t.Fatalf("delete: %d %q", code, out)
	}
	_, errs, code = runSchemaCLI(t, "http://127.0.0.1:1", "list")
	if code == 0 || !strings.Contains(errs, "cannot reach schema registry") {
		t.Fatalf("unreachable: %d %q", code, errs)
	}
}
