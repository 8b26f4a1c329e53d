package connect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkPipeline measures datagen -> Kafka -> file sink through one
// worker's runtime, end to end, in records/s, per value converter. The
// Avro variant runs a schema registry on the same broker; datagen's values
// are schemaless, so the converter infers (and caches) their schema.
func BenchmarkPipeline(b *testing.B) {
	for _, conv := range []struct {
		name string
		cfg  map[string]string
	}{
		{"json-schemas", map[string]string{"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "true"}},
		{"json-plain", map[string]string{"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"}},
		{"avro", map[string]string{"value.converter": "io.confluent.connect.avro.AvroConverter", "value.converter.schema.registry.url": "REGISTRY"}},
	} {
		b.Run(conv.name, func(b *testing.B) {
			kafka := startKafkaB(b)
			var regURL string
			if conv.name == "avro" {
				regURL = testenv.StartRegistry(b, kafka)
			}
			w := startWorker(b, kafka)
			out := filepath.Join(b.TempDir(), "out")
			n := b.N
			if n < 1000 {
				n = 1000
			}
			gen := map[string]string{"connector.class": "DatagenConnector", "kafka.topic": "bench", "tasks.max": "2",
				"records.per.second": "10000000", "iterations": fmt.Sprint(n / 2), "batch.size": "2000"}
			sink := map[string]string{"connector.class": "FileStreamSink", "topics": "bench", "file": out}
			for k, v := range conv.cfg {
				if v == "REGISTRY" {
					v = regURL
				}
				gen[k], sink[k] = v, v
			}
			b.ResetTimer()
			start := time.Now()
			if st, body := call(b, "POST", w.url+"/connectors", map[string]any{"name": "sink", "config": sink}); st != 201 {
				b.Fatalf("%d %s", st, body)
			}
			if st, body := call(b, "POST", w.url+"/connectors", map[string]any{"name": "gen", "config": gen}); st != 201 {
				b.Fatalf("%d %s", st, body)
			}
			want := (n / 2) * 2
			for {
				data, _ := os.ReadFile(out)
				if bytes.Count(data, []byte{'\n'}) >= want {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(want)/el.Seconds(), "records/s")
		})
	}
}
