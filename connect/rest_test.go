package connect

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRESTContract checks every endpoint's status code and JSON shape
// against Kafka Connect's documented responses, over real HTTP.
func TestRESTContract(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	u := w.url
	out := filepath.Join(t.TempDir(), "out.txt")
	cfg := map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "tasks.max": "1", "file": out, "topics": "contract"}

	// GET /
	st, body := call(t, "GET", u+"/", nil)
	root := decodeJSON(t, body).(map[string]any)
	if st != 200 || root["version"] == nil || root["commit"] == nil {
		t.Fatalf("GET / = %d %s", st, body)
	}
	if _, ok := root["kafka_cluster_id"]; !ok {
		t.Fatalf("GET / lacks kafka_cluster_id: %s", body)
	}

	// Empty list is [].
	if st, body = call(t, "GET", u+"/connectors", nil); st != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("GET /connectors = %d %s", st, body)
	}

	// POST /connectors: 201 with {name, config, tasks, type}.
	st, body = call(t, "POST", u+"/connectors", map[string]any{"name": "c1", "config": cfg})
	if st != 201 {
		t.Fatalf("POST = %d %s", st, body)
	}
	created := decodeJSON(t, body).(map[string]any)
	wantCfg := map[string]any{"name": "c1"}
	for k, v := range cfg {
		wantCfg[k] = v
	}
	if created["name"] != "c1" || !reflect.DeepEqual(created["config"], wantCfg) || created["type"] != "sink" || created["tasks"] == nil {
		t.Fatalf("POST body = %s", body)
	}

	// 409 when it exists.
	st, body = call(t, "POST", u+"/connectors", map[string]any{"name": "c1", "config": cfg})
	expectError(t, st, body, 409)

	// GET /connectors/{c} lists its tasks once the connector made them.
	waitFor(t, "tasks", func() bool {
		_, b := call(t, "GET", u+"/connectors/c1", nil)
		m := decodeJSON(t, b).(map[string]any)
		ts, _ := m["tasks"].([]any)
		return len(ts) == 1
	})
	st, body = call(t, "GET", u+"/connectors/c1", nil)
	info := decodeJSON(t, body).(map[string]any)
	if st != 200 || !reflect.DeepEqual(info["tasks"], []any{map[string]any{"connector": "c1", "task": float64(0)}}) {
		t.Fatalf("GET /connectors/c1 = %d %s", st, body)
	}

	// GET config is the bare map.
	st, body = call(t, "GET", u+"/connectors/c1/config", nil)
	if st != 200 || !reflect.DeepEqual(decodeJSON(t, body), wantCfg) {
		t.Fatalf("GET config = %d %s", st, body)
	}

	// GET tasks: [{"id":{"connector","task"},"config":{...}}].
	st, body = call(t, "GET", u+"/connectors/c1/tasks", nil)
	tasks := decodeJSON(t, body).([]any)
	if st != 200 || len(tasks) != 1 || tasks[0].(map[string]any)["id"].(map[string]any)["connector"] != "c1" || tasks[0].(map[string]any)["config"] == nil {
		t.Fatalf("GET tasks = %d %s", st, body)
	}

	// Status reaches RUNNING with worker ids.
	waitFor(t, "running", func() bool {
		_, b := call(t, "GET", u+"/connectors/c1/status", nil)
		m := decodeJSON(t, b).(map[string]any)
		c := m["connector"].(map[string]any)
		ts := m["tasks"].([]any)
		return c["state"] == "RUNNING" && len(ts) == 1 && ts[0].(map[string]any)["state"] == "RUNNING"
	})
	st, body = call(t, "GET", u+"/connectors/c1/status", nil)
	status := decodeJSON(t, body).(map[string]any)
	if st != 200 || status["name"] != "c1" || status["type"] != "sink" ||
		status["connector"].(map[string]any)["worker_id"] != w.w.Addr() ||
		status["tasks"].([]any)[0].(map[string]any)["id"] != float64(0) {
		t.Fatalf("status = %d %s", st, body)
	}
	st, body = call(t, "GET", u+"/connectors/c1/tasks/0/status", nil)
	ts := decodeJSON(t, body).(map[string]any)
	if st != 200 || ts["id"] != float64(0) || ts["state"] != "RUNNING" || ts["worker_id"] != w.w.Addr() {
		t.Fatalf("task status = %d %s", st, body)
	}
	st, body = call(t, "GET", u+"/connectors/c1/tasks/7/status", nil)
	expectError(t, st, body, 404)

	// ?expand=status and ?expand=info.
	st, body = call(t, "GET", u+"/connectors?expand=status&expand=info", nil)
	exp := decodeJSON(t, body).(map[string]any)
	c1 := exp["c1"].(map[string]any)
	if st != 200 || c1["status"] == nil || c1["info"] == nil {
		t.Fatalf("expand = %d %s", st, body)
	}

	// PUT config: 200 for an existing connector, 201 for a new one.
	cfg2 := map[string]string{}
	for k, v := range cfg {
		cfg2[k] = v
	}
	cfg2["tasks.max"] = "2"
	if st, body = call(t, "PUT", u+"/connectors/c1/config", cfg2); st != 200 {
		t.Fatalf("PUT existing = %d %s", st, body)
	}
	if st, body = call(t, "PUT", u+"/connectors/c2/config", cfg2); st != 201 {
		t.Fatalf("PUT new = %d %s", st, body)
	}

	// Pause and resume: 202; stop: 204.
	if st, body = call(t, "PUT", u+"/connectors/c1/pause", nil); st != 202 {
		t.Fatalf("pause = %d %s", st, body)
	}
	waitFor(t, "paused", func() bool {
		_, b := call(t, "GET", u+"/connectors/c1/status", nil)
		return decodeJSON(t, b).(map[string]any)["connector"].(map[string]any)["state"] == "PAUSED"
	})
	if st, body = call(t, "PUT", u+"/connectors/c1/resume", nil); st != 202 {
		t.Fatalf("resume = %d %s", st, body)
	}
	waitFor(t, "resumed", func() bool {
		_, b := call(t, "GET", u+"/connectors/c1/status", nil)
		return decodeJSON(t, b).(map[string]any)["connector"].(map[string]any)["state"] == "RUNNING"
	})
	if st, body = call(t, "PUT", u+"/connectors/c2/stop", nil); st != 204 {
		t.Fatalf("stop = %d %s", st, body)
	}
	waitFor(t, "stopped", func() bool {
		_, b := call(t, "GET", u+"/connectors/c2/status", nil)
		m := decodeJSON(t, b).(map[string]any)
		return m["connector"].(map[string]any)["state"] == "STOPPED" && len(m["tasks"].([]any)) == 0
	})

	// Restart: 204 plain, 202 with a status body when includeTasks.
	if st, body = call(t, "POST", u+"/connectors/c1/restart", nil); st != 204 {
		t.Fatalf("restart = %d %s", st, body)
	}
	st, body = call(t, "POST", u+"/connectors/c1/restart?includeTasks=true&onlyFailed=false", nil)
	if st != 202 || decodeJSON(t, body).(map[string]any)["connector"] == nil {
		t.Fatalf("restart includeTasks = %d %s", st, body)
	}
	if st, body = call(t, "POST", u+"/connectors/c1/tasks/0/restart", nil); st != 204 {
		t.Fatalf("task restart = %d %s", st, body)
	}

	// Plugins.
	st, body = call(t, "GET", u+"/connector-plugins", nil)
	plugins := decodeJSON(t, body).([]any)
	found := false
	for _, p := range plugins {
		m := p.(map[string]any)
		if m["class"] == "org.apache.kafka.connect.file.FileStreamSinkConnector" && m["type"] == "sink" && m["version"] != nil {
			found = true
		}
	}
	if st != 200 || !found {
		t.Fatalf("plugins = %d %s", st, body)
	}

	// Validate: 200 with {name, error_count, groups, configs[{definition, value}]}.
	st, body = call(t, "PUT", u+"/connector-plugins/FileStreamSinkConnector/config/validate", map[string]string{
		"connector.class": "FileStreamSinkConnector", "name": "v", "topics": "x"})
	v := decodeJSON(t, body).(map[string]any)
	if st != 200 || v["name"] != "org.apache.kafka.connect.file.FileStreamSinkConnector" || v["error_count"] != float64(1) || v["groups"] == nil {
		t.Fatalf("validate = %d %s", st, body)
	}
	var fileErr []any
	for _, c := range v["configs"].([]any) {
		cv := c.(map[string]any)
		def, val := cv["definition"].(map[string]any), cv["value"].(map[string]any)
		for _, k := range []string{"name", "type", "required", "default_value", "importance", "documentation", "group", "width", "display_name", "dependents", "order"} {
			if _, ok := def[k]; !ok {
				t.Fatalf("definition lacks %q: %v", k, def)
			}
		}
		for _, k := range []string{"name", "value", "recommended_values", "errors", "visible"} {
			if _, ok := val[k]; !ok {
				t.Fatalf("value lacks %q: %v", k, val)
			}
		}
		if val["name"] == "file" {
			fileErr = val["errors"].([]any)
		}
	}
	if len(fileErr) != 1 {
		t.Fatalf("missing file error not reported: %s", body)
	}

	// DELETE: 204, then 404 everywhere.
	if st, body = call(t, "DELETE", u+"/connectors/c2", nil); st != 204 {
		t.Fatalf("delete = %d %s", st, body)
	}
	for _, p := range []string{"/connectors/c2", "/connectors/c2/config", "/connectors/c2/status", "/connectors/c2/tasks"} {
		st, body = call(t, "GET", u+p, nil)
		expectError(t, st, body, 404)
	}
	st, body = call(t, "DELETE", u+"/connectors/c2", nil)
	expectError(t, st, body, 404)
	st, body = call(t, "PUT", u+"/connectors/nope/pause", nil)
	expectError(t, st, body, 404)
	st, body = call(t, "POST", u+"/connectors/nope/restart", nil)
	expectError(t, st, body, 404)
	if st, body = call(t, "GET", u+"/connectors", nil); st != 200 || strings.TrimSpace(string(body)) != `["c1"]` {
		t.Fatalf("list after delete = %d %s", st, body)
	}
}

// expectError checks Kafka Connect's {"error_code":N,"message":"..."}.
func expectError(t *testing.T, st int, body []byte, want int) {
	t.Helper()
	if st != want {
		t.Fatalf("status %d, want %d: %s", st, want, body)
	}
	m, ok := decodeJSON(t, body).(map[string]any)
	if !ok || m["error_code"] != float64(want) || m["message"] == nil || m["message"] == "" || len(m) != 2 {
		t.Fatalf("error body %s, want {error_code:%d,message}", body, want)
	}
}
