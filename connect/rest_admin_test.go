package connect

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// expectMessage checks an error answer's status and exact message.
func expectMessage(t *testing.T, st int, body []byte, want int, msg string) {
	t.Helper()
	expectError(t, st, body, want)
	if got := decodeJSON(t, body).(map[string]any)["message"]; got != msg {
		t.Fatalf("message %q, want %q", got, msg)
	}
}

func stopConnector(t *testing.T, u, c string) {
	t.Helper()
	if st, body := call(t, "PUT", u+"/connectors/"+c+"/stop", nil); st != 204 {
		t.Fatalf("stop = %d %s", st, body)
	}
	waitFor(t, c+" stopped", func() bool {
		_, b := call(t, "GET", u+"/connectors/"+c+"/status", nil)
		return decodeJSON(t, b).(map[string]any)["connector"].(map[string]any)["state"] == "STOPPED"
	})
}

// PATCH /connectors/{c}/offsets and GET|PUT .../topics as Kafka Connect's
// documentation gives them (KIP-875, KIP-558).
func TestRESTAlterOffsetsAndTopics(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	u := w.url
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	os.WriteFile(in, []byte("a\nb\n"), 0o644)
	for name, cfg := range map[string]map[string]string{
		"src":  {"connector.class": "FileStreamSource", "file": in, "topic": "alter"},
		"sink": {"connector.class": "FileStreamSink", "file": out, "topics": "alter"},
	} {
		if st, body := call(t, "POST", u+"/connectors", map[string]any{"name": name, "config": cfg}); st != 201 {
			t.Fatalf("create %s = %d %s", name, st, body)
		}
	}
	waitFor(t, "sink file", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "a\nb\n"
	})

	// Active topics: both connectors used "alter".
	for _, c := range []string{"src", "sink"} {
		waitFor(t, c+" topics", func() bool {
			st, b := call(t, "GET", u+"/connectors/"+c+"/topics", nil)
			return st == 200 && reflect.DeepEqual(decodeJSON(t, b), map[string]any{c: map[string]any{"topics": []any{"alter"}}})
		})
	}
	st, body := call(t, "GET", u+"/connectors/nope/topics", nil)
	expectMessage(t, st, body, 404, "Connector nope not found")
	st, body = call(t, "PUT", u+"/connectors/nope/topics/reset", nil)
	expectMessage(t, st, body, 404, "Connector nope not found")

	// PATCH offsets needs STOPPED.
	patch := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": 2}}}}
	st, body = call(t, "PATCH", u+"/connectors/src/offsets", patch)
	expectMessage(t, st, body, 400, "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/src/stop' endpoint")
	st, body = call(t, "PATCH", u+"/connectors/nope/offsets", patch)
	expectError(t, st, body, 404)

	stopConnector(t, u, "src")
	stopConnector(t, u, "sink")

	// Topics reset: 202, then empty.
	if st, body = call(t, "PUT", u+"/connectors/src/topics/reset", nil); st != 202 || len(body) != 0 {
		t.Fatalf("reset = %d %q", st, body)
	}
	if st, body = call(t, "GET", u+"/connectors/src/topics", nil); st != 200 || strings.TrimSpace(string(body)) != `{"src":{"topics":[]}}` {
		t.Fatalf("topics after reset = %d %s", st, body)
	}

	// Source offsets: altered, then read back.
	st, body = call(t, "PATCH", u+"/connectors/src/offsets", patch)
	if st != 200 || !reflect.DeepEqual(decodeJSON(t, body), map[string]any{"message": "The offsets for this connector have been altered successfully"}) {
		t.Fatalf("alter src = %d %s", st, body)
	}
	want := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": float64(2)}}}}
	if _, b := call(t, "GET", u+"/connectors/src/offsets", nil); !reflect.DeepEqual(decodeJSON(t, b), want) {
		t.Fatalf("src offsets = %s", b)
	}
	for _, bad := range []struct {
		body any
		msg  string
	}{
		{map[string]any{}, "Partitions / offsets need to be provided for an alter offsets request"},
		{map[string]any{"offsets": []any{}}, "Partitions / offsets need to be provided for an alter offsets request"},
		{map[string]any{"offsets": []any{map[string]any{"offset": map[string]any{"position": 1}}}}, "Source partitions may not be null"},
	} {
		st, body = call(t, "PATCH", u+"/connectors/src/offsets", bad.body)
		expectMessage(t, st, body, 400, bad.msg)
	}
	st, body = call(t, "PATCH", u+"/connectors/src/offsets", `{"offsets":`)
	expectError(t, st, body, 400)

	// Sink offsets: kafka_topic/kafka_partition -> kafka_offset.
	sinkPatch := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"kafka_topic": "alter", "kafka_partition": 0}, "offset": map[string]any{"kafka_offset": 1}}}}
	st, body = call(t, "PATCH", u+"/connectors/sink/offsets", sinkPatch)
	if st != 200 || !reflect.DeepEqual(decodeJSON(t, body), map[string]any{"message": "The offsets for this connector have been altered successfully"}) {
		t.Fatalf("alter sink = %d %s", st, body)
	}
	wantSink := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"kafka_topic": "alter", "kafka_partition": float64(0)}, "offset": map[string]any{"kafka_offset": float64(1)}}}}
	if _, b := call(t, "GET", u+"/connectors/sink/offsets", nil); !reflect.DeepEqual(decodeJSON(t, b), wantSink) {
		t.Fatalf("sink offsets = %s", b)
	}
	for _, bad := range []struct {
		part, off any
		msg       string
	}{
		{map[string]any{"kafka_topic": "alter"}, map[string]any{"kafka_offset": 1}, "The partition for a sink connector offset must contain the keys 'kafka_topic' and 'kafka_partition'"},
		{map[string]any{"kafka_topic": 5, "kafka_partition": 0}, map[string]any{"kafka_offset": 1}, "Kafka topic names must be valid strings"},
		{map[string]any{"kafka_topic": "alter", "kafka_partition": "x"}, map[string]any{"kafka_offset": 1}, "Failed to parse the following Kafka partition value in the provided offsets: 'x'. Partition values for sink connectors need to be integers."},
		{map[string]any{"kafka_topic": "alter", "kafka_partition": 0}, map[string]any{"position": 1}, "The offset for a sink connector should either be null or contain the key 'kafka_offset'"},
		{map[string]any{"kafka_topic": "alter", "kafka_partition": 0}, map[string]any{"kafka_offset": "y"}, "Failed to parse the following Kafka offset value in the provided offsets: 'y'. Offset values for sink connectors need to be integers."},
	} {
		st, body = call(t, "PATCH", u+"/connectors/sink/offsets", map[string]any{"offsets": []any{map[string]any{"partition": bad.part, "offset": bad.off}}})
		expectMessage(t, st, body, 400, bad.msg)
	}
	// A null offset removes the partition's committed offset.
	st, body = call(t, "PATCH", u+"/connectors/sink/offsets", `{"offsets":[{"partition":{"kafka_topic":"alter","kafka_partition":0},"offset":null}]}`)
	if st != 200 {
		t.Fatalf("null sink offset = %d %s", st, body)
	}
	if st, body = call(t, "GET", u+"/connectors/sink/offsets", nil); st != 200 || strings.TrimSpace(string(body)) != `{"offsets":[]}` {
		t.Fatalf("sink offsets after null = %d %s", st, body)
	}

	// Resumed, the sink starts over from offset 0 (no committed offset) and
	// the source from byte 2: the file gets "a", "b" again, then "b".
	call(t, "PUT", u+"/connectors/sink/resume", nil)
	call(t, "PUT", u+"/connectors/src/resume", nil)
	waitFor(t, "replay after alter", func() bool {
		b, _ := os.ReadFile(out)
		return len(b) == 10 && strings.Count(string(b), "a\n") == 2 && strings.Count(string(b), "b\n") == 3
	})
	// Used again after the reset, the topic is active again.
	waitFor(t, "src topics again", func() bool {
		_, b := call(t, "GET", u+"/connectors/src/topics", nil)
		return strings.Contains(string(b), `"alter"`)
	})
}

// /admin/loggers as Kafka Connect's documentation gives it (KIP-495, KIP-976).
func TestRESTAdminLoggers(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	u := w.url
	st, body := call(t, "GET", u+"/admin/loggers", nil)
	all, _ := decodeJSON(t, body).(map[string]any)
	root, _ := all["root"].(map[string]any)
	if st != 200 || root == nil || root["level"] == nil || root["last_modified"] != nil {
		t.Fatalf("loggers = %d %s", st, body)
	}
	const worker = "org.apache.kafka.connect.runtime.Worker"
	st, body = call(t, "GET", u+"/admin/loggers/"+worker, nil)
	if st != 200 || !reflect.DeepEqual(decodeJSON(t, body), map[string]any{"level": root["level"], "last_modified": nil}) {
		t.Fatalf("worker logger = %d %s", st, body)
	}
	st, body = call(t, "GET", u+"/admin/loggers/com.example.Nope", nil)
	expectMessage(t, st, body, 404, "Logger com.example.Nope not found.")

	// Worker scope: 200 and the loggers changed, the namespace included.
	st, body = call(t, "PUT", u+"/admin/loggers/org.apache.kafka.connect.runtime", map[string]string{"level": "DEBUG"})
	changed, _ := decodeJSON(t, body).([]any)
	if st != 200 || len(changed) < 2 || changed[0] != "org.apache.kafka.connect.runtime" {
		t.Fatalf("set = %d %s", st, body)
	}
	for _, want := range []string{worker, "org.apache.kafka.connect.runtime.WorkerSinkTask", "org.apache.kafka.connect.runtime.distributed.DistributedHerder"} {
		if !strings.Contains(string(body), `"`+want+`"`) {
			t.Fatalf("set did not report %s: %s", want, body)
		}
	}
	st, body = call(t, "GET", u+"/admin/loggers/"+worker, nil)
	lv := decodeJSON(t, body).(map[string]any)
	if st != 200 || lv["level"] != "DEBUG" || lv["last_modified"] == nil {
		t.Fatalf("after set = %d %s", st, body)
	}
	_, body = call(t, "GET", u+"/admin/loggers", nil)
	if l, _ := decodeJSON(t, body).(map[string]any)["org.apache.kafka.connect.runtime"].(map[string]any); l["level"] != "DEBUG" {
		t.Fatalf("list after set = %s", body)
	}
	st, body = call(t, "PUT", u+"/admin/loggers/"+worker, map[string]string{"level": "bogus"})
	expectMessage(t, st, body, 400, "Invalid log level 'bogus'.")
	st, body = call(t, "PUT", u+"/admin/loggers/"+worker, map[string]string{})
	expectMessage(t, st, body, 400, "Desired 'level' parameter was not specified in the request.")

	// Cluster scope: 204, applied by every worker through connect-configs.
	st, body = call(t, "PUT", u+"/admin/loggers/org.apache.kafka.connect.runtime.WorkerSourceTask?scope=cluster", map[string]string{"level": "ERROR"})
	if st != 204 || len(body) != 0 {
		t.Fatalf("cluster set = %d %q", st, body)
	}
	waitFor(t, "cluster level applied", func() bool {
		_, b := call(t, "GET", u+"/admin/loggers/org.apache.kafka.connect.runtime.WorkerSourceTask", nil)
		return decodeJSON(t, b).(map[string]any)["level"] == "ERROR"
	})
}
