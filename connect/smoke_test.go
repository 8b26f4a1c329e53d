package connect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFileSourceToSink(t *testing.T) {
	kafka := startKafka(t)
	reg := prometheus.NewRegistry()
	w := startWorkerWith(t, Config{Bootstrap: []string{kafka}, Registerer: reg})
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	os.WriteFile(in, []byte("one\ntwo\nthree\n"), 0o644)
	st, body := call(t, "POST", w.url+"/connectors", map[string]any{"name": "src", "config": map[string]string{
		"connector.class": "FileStreamSource", "file": in, "topic": "lines"}})
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	st, body = call(t, "POST", w.url+"/connectors", map[string]any{"name": "sink", "config": map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "file": out, "topics": "lines"}})
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	waitFor(t, "sink file", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") >= 3
	})
	b, _ := os.ReadFile(out)
	if string(b) != "one\ntwo\nthree\n" {
		t.Fatalf("out = %q", b)
	}
	if n := testutil.ToFloat64(gauge(t, reg, "sluice_connect_sink_records_put_total")); n != 3 {
		t.Fatalf("records put = %v", n)
	}
	if n := testutil.ToFloat64(gauge(t, reg, "sluice_connect_source_records_polled_total")); n != 3 {
		t.Fatalf("records polled = %v", n)
	}
	// The source's offsets are written once Kafka acknowledged its records,
	// which may be a moment after the sink already has them.
	waitFor(t, "an offset commit of each connector", func() bool {
		n, err := testutil.GatherAndCount(reg, "sluice_connect_offset_commit_seconds")
		return err == nil && n == 2
	})
}

// gauge finds a metric family by name and returns a collector of its sum.
func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if !found {
		t.Fatalf("metric %s not registered", name)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sum"})
	g.Set(sum)
	return g
}

// TestCloseWithoutRun releases what New took.
func TestCloseWithoutRun(t *testing.T) {
	w, err := New(Config{Bootstrap: []string{"127.0.0.1:1"}, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without bootstrap succeeded")
	}
}
