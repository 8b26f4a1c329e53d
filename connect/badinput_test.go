package connect

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	u := w.url

	st, body := call(t, "POST", u+"/connectors", `{"name": "x", "config": {`)
	expectError(t, st, body, 400)
	st, body = call(t, "PUT", u+"/connectors/x/config", `not json`)
	expectError(t, st, body, 400)
	st, body = call(t, "POST", u+"/connectors", map[string]any{"config": map[string]string{"connector.class": "FileStreamSink"}})
	expectError(t, st, body, 400)

	cases := []struct {
		name    string
		cfg     map[string]string
		wantKey string
	}{
		{"unknown class", map[string]string{"connector.class": "com.example.NoSuchConnector"}, "connector.class"},
		{"missing required", map[string]string{"connector.class": "FileStreamSource", "topic": "t"}, "file"},
		{"sink without topics", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x"}, "topics"},
		{"bad tasks.max", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x", "topics": "t", "tasks.max": "many"}, "tasks.max"},
		{"unknown transform", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x", "topics": "t",
			"transforms": "a", "transforms.a.type": "org.apache.kafka.connect.transforms.NoSuch"}, "transforms.a.type"},
		{"bad transform setting", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x", "topics": "t",
			"transforms": "a", "transforms.a.type": "org.apache.kafka.connect.transforms.Cast$Value", "transforms.a.spec": "f:decimal"}, "transforms.a.type"},
		{"undefined predicate", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x", "topics": "t",
			"transforms": "a", "transforms.a.type": "org.apache.kafka.connect.transforms.Filter", "transforms.a.predicate": "p"}, "transforms.a.predicate"},
		{"bad converter", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x", "topics": "t", "value.converter": "com.example.Nope"}, "value.converter"},
		{"bad tolerance", map[string]string{"connector.class": "FileStreamSink", "file": "/tmp/x", "topics": "t", "errors.tolerance": "some"}, "errors.tolerance"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := call(t, "POST", u+"/connectors", map[string]any{"name": "bad", "config": c.cfg})
			expectError(t, st, body, 400)
			if !strings.Contains(string(body), c.wantKey) {
				t.Fatalf("400 body does not name %s: %s", c.wantKey, body)
			}
			// The validation endpoint reports the same key with an error.
			cfg := map[string]string{"name": "bad"}
			for k, v := range c.cfg {
				cfg[k] = v
			}
			st, body = call(t, "PUT", u+"/connector-plugins/any/config/validate", cfg)
			if st != 200 {
				t.Fatalf("validate = %d %s", st, body)
			}
			res := decodeJSON(t, body).(map[string]any)
			if res["error_count"].(float64) < 1 {
				t.Fatalf("validate found no error: %s", body)
			}
			found := false
			for _, ci := range res["configs"].([]any) {
				v := ci.(map[string]any)["value"].(map[string]any)
				if v["name"] == c.wantKey && len(v["errors"].([]any)) > 0 {
					found = true
				}
			}
			if !found {
				t.Fatalf("validate did not flag %s: %s", c.wantKey, body)
			}
		})
	}
	if st, body := call(t, "GET", u+"/connectors", nil); strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("a rejected connector was created: %d %s", st, body)
	}
	st, body = call(t, "PUT", u+"/connector-plugins/x/config/validate", map[string]string{"name": "x"})
	expectError(t, st, body, 400)

	// Numbers and booleans are taken as strings, as Kafka Connect does;
	// objects are not.
	st, body = call(t, "POST", u+"/connectors", `{"name":"nested","config":{"connector.class":"FileStreamSink","topics":"t","file":{"a":1}}}`)
	expectError(t, st, body, 400)
	out := filepath.Join(t.TempDir(), "o")
	st, body = call(t, "POST", u+"/connectors", `{"name":"num","config":{"connector.class":"FileStreamSink","topics":"t","tasks.max":1,"errors.log.enable":true,"file":"`+out+`"}}`)
	if st != 201 || !strings.Contains(string(body), `"tasks.max":"1"`) || !strings.Contains(string(body), `"errors.log.enable":"true"`) {
		t.Fatalf("numeric config = %d %s", st, body)
	}
}

// TestFailedTaskRestart: a task that fails goes FAILED with a trace and
// runs again after a restart.
func TestFailedTaskRestart(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	u := w.url
	st, body := call(t, "POST", u+"/connectors", map[string]any{"name": "gen", "config": map[string]string{
		"connector.class": "DatagenConnector", "kafka.topic": "gen", "records.per.second": "1000", "fail.after": "20"}})
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	taskState := func() map[string]any {
		_, b := call(t, "GET", u+"/connectors/gen/tasks/0/status", nil)
		m, _ := decodeJSON(t, b).(map[string]any)
		return m
	}
	waitFor(t, "FAILED", func() bool { return taskState()["state"] == "FAILED" })
	if tr, _ := taskState()["trace"].(string); !strings.Contains(tr, "fail.after") {
		t.Fatalf("trace = %q", tr)
	}
	if st, body = call(t, "POST", u+"/connectors/gen/tasks/0/restart", nil); st != 204 {
		t.Fatalf("restart = %d %s", st, body)
	}
	// The restarted task resumes from its committed offset and fails again
	// after another 20 records: 40 in the topic prove it ran.
	waitFor(t, "restarted task's records", func() bool { return topicCount(t, kafka, "gen") >= 40 })
	waitFor(t, "FAILED again", func() bool { return taskState()["state"] == "FAILED" })
}
