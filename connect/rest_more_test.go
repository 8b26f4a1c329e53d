package connect

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRESTOffsetsPatchPluginConfig(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	u := w.url
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	os.WriteFile(in, []byte("a\nb\n"), 0o644)
	for name, cfg := range map[string]map[string]string{
		"src":  {"connector.class": "FileStreamSource", "file": in, "topic": "off"},
		"sink": {"connector.class": "FileStreamSink", "file": out, "topics": "off"},
	} {
		if st, body := call(t, "POST", u+"/connectors", map[string]any{"name": name, "config": cfg}); st != 201 {
			t.Fatalf("create %s = %d %s", name, st, body)
		}
	}
	want := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": float64(4)}}}}
	waitFor(t, "source offsets", func() bool {
		_, b := call(t, "GET", u+"/connectors/src/offsets", nil)
		return reflect.DeepEqual(decodeJSON(t, b), want)
	})
	wantSink := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"kafka_topic": "off", "kafka_partition": float64(0)}, "offset": map[string]any{"kafka_offset": float64(2)}}}}
	waitFor(t, "sink offsets", func() bool {
		_, b := call(t, "GET", u+"/connectors/sink/offsets", nil)
		return reflect.DeepEqual(decodeJSON(t, b), wantSink)
	})
	st, body := call(t, "GET", u+"/connectors/nope/offsets", nil)
	expectError(t, st, body, 404)

	// DELETE offsets: 400 unless STOPPED, then 200 and gone.
	st, body = call(t, "DELETE", u+"/connectors/src/offsets", nil)
	expectError(t, st, body, 400)
	for _, c := range []string{"src", "sink"} {
		if st, body = call(t, "PUT", u+"/connectors/"+c+"/stop", nil); st != 204 {
			t.Fatalf("stop = %d %s", st, body)
		}
		waitFor(t, c+" stopped", func() bool {
			_, b := call(t, "GET", u+"/connectors/"+c+"/status", nil)
			return decodeJSON(t, b).(map[string]any)["connector"].(map[string]any)["state"] == "STOPPED"
		})
		st, body = call(t, "DELETE", u+"/connectors/"+c+"/offsets", nil)
		if st != 200 || !reflect.DeepEqual(decodeJSON(t, body), map[string]any{"message": "The offsets for this connector have been reset successfully"}) {
			t.Fatalf("delete %s offsets = %d %s", c, st, body)
		}
		if st, body = call(t, "GET", u+"/connectors/"+c+"/offsets", nil); st != 200 || strings.TrimSpace(string(body)) != `{"offsets":[]}` {
			t.Fatalf("%s offsets after reset = %d %s", c, st, body)
		}
		call(t, "PUT", u+"/connectors/"+c+"/resume", nil)
	}
	// The source starts over: the sink file gets the lines again.
	waitFor(t, "replay after reset", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "a\n") >= 2
	})

	// PATCH merges; null removes.
	st, body = call(t, "PATCH", u+"/connectors/src/config", `{"batch.size":"10","topic":"off"}`)
	if st != 200 || decodeJSON(t, body).(map[string]any)["config"].(map[string]any)["batch.size"] != "10" {
		t.Fatalf("patch = %d %s", st, body)
	}
	st, body = call(t, "PATCH", u+"/connectors/src/config", `{"batch.size":null}`)
	if _, has := decodeJSON(t, body).(map[string]any)["config"].(map[string]any)["batch.size"]; st != 200 || has {
		t.Fatalf("patch null = %d %s", st, body)
	}
	st, body = call(t, "PATCH", u+"/connectors/src/config", `{"file":null}`)
	expectError(t, st, body, 400)

	// Plugin config definitions.
	st, body = call(t, "GET", u+"/connector-plugins/FileStreamSink/config", nil)
	found := false
	for _, d := range decodeJSON(t, body).([]any) {
		m := d.(map[string]any)
		if m["name"] == "file" && m["type"] == "STRING" && m["required"] == true {
			found = true
		}
	}
	if st != 200 || !found {
		t.Fatalf("plugin config = %d %s", st, body)
	}
	st, body = call(t, "GET", u+"/connector-plugins/Nope/config", nil)
	expectError(t, st, body, 404)

	// initial_state: STOPPED creates without running; resume starts it.
	st, body = call(t, "POST", u+"/connectors", map[string]any{"name": "later", "initial_state": "STOPPED",
		"config": map[string]string{"connector.class": "FileStreamSink", "file": out + ".later", "topics": "off"}})
	if st != 201 {
		t.Fatalf("create stopped = %d %s", st, body)
	}
	state := func() string {
		_, b := call(t, "GET", u+"/connectors/later/status", nil)
		return decodeJSON(t, b).(map[string]any)["connector"].(map[string]any)["state"].(string)
	}
	waitFor(t, "STOPPED", func() bool { return state() == "STOPPED" })
	call(t, "PUT", u+"/connectors/later/resume", nil)
	waitFor(t, "RUNNING after resume", func() bool { return state() == "RUNNING" })
	st, body = call(t, "POST", u+"/connectors", map[string]any{"name": "odd", "initial_state": "SLEEPING",
		"config": map[string]string{"connector.class": "FileStreamSink", "file": out + ".odd", "topics": "off"}})
	expectError(t, st, body, 400)
}
