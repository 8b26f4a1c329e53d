package connect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func produce(t *testing.T, kafka, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeadLetterQueue: with errors.tolerance=all a record that cannot be
// converted goes to the DLQ with Kafka Connect's __connect.errors.* headers
// and the good ones reach the sink; with none the task fails.
func TestDeadLetterQueue(t *testing.T) {
	kafka := startKafka(t)
	w := startWorker(t, kafka)
	produce(t, kafka, "in", `{"schema":{"type":"string","optional":false},"payload":"good-1"}`, `{not json`, `{"schema":{"type":"string","optional":false},"payload":"good-2"}`)
	out := filepath.Join(t.TempDir(), "out.txt")
	st, body := call(t, "POST", w.url+"/connectors", map[string]any{"name": "tolerant", "config": map[string]string{
		"connector.class": "FileStreamSink", "topics": "in", "file": out,
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "true",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq", "errors.deadletterqueue.context.headers.enable": "true"}})
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	waitFor(t, "good records", func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "good-1\ngood-2\n"
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got *kgo.Record
	for got == nil && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = r })
	}
	if got == nil || string(got.Value) != "{not json" {
		t.Fatalf("dlq record = %v", got)
	}
	h := map[string]string{}
	for _, x := range got.Headers {
		h[x.Key] = string(x.Value)
	}
	for k, want := range map[string]string{"__connect.errors.topic": "in", "__connect.errors.partition": "0", "__connect.errors.offset": "1",
		"__connect.errors.connector.name": "tolerant", "__connect.errors.task.id": "0", "__connect.errors.stage": "VALUE_CONVERTER"} {
		if h[k] != want {
			t.Errorf("header %s = %q, want %q", k, h[k], want)
		}
	}
	if !strings.Contains(h["__connect.errors.exception.message"], "serialization") {
		t.Errorf("exception message = %q", h["__connect.errors.exception.message"])
	}

	// errors.tolerance=none: the same bad record fails the task.
	st, body = call(t, "POST", w.url+"/connectors", map[string]any{"name": "strict", "config": map[string]string{
		"connector.class": "FileStreamSink", "topics": "in", "file": filepath.Join(t.TempDir(), "strict.txt")}})
	if st != 201 {
		t.Fatalf("create = %d %s", st, body)
	}
	waitFor(t, "strict task FAILED", func() bool {
		_, b := call(t, "GET", w.url+"/connectors/strict/tasks/0/status", nil)
		m, _ := decodeJSON(t, b).(map[string]any)
		tr, _ := m["trace"].(string)
		return m["state"] == "FAILED" && strings.Contains(tr, "Tolerance exceeded")
	})
}
