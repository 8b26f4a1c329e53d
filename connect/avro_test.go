package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/connect/runtime"
	"github.com/sluicehq/sluice/internal/testenv"
)

// orderSchema is what the test source writes: a named struct with a
// decimal, a timestamp, an optional string and an int8.
var orderSchema = &plugin.Schema{Type: plugin.StructT, Name: "io.sluice.test.Order", Version: 1, Fields: []plugin.Field{
	{Name: "id", Schema: &plugin.Schema{Type: plugin.Int64}},
	{Name: "note", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
	{Name: "price", Schema: &plugin.Schema{Type: plugin.Bytes, Name: avrodata.DecimalName, Version: 1, Parameters: map[string]string{"scale": "2"}}},
	{Name: "at", Schema: &plugin.Schema{Type: plugin.Int64, Name: avrodata.TimestampName, Version: 1}},
	{Name: "small", Schema: &plugin.Schema{Type: plugin.Int8}},
}}

// oneTask is a connector whose single task gets the connector's config.
type oneTask struct{ cfg map[string]string }

func (c *oneTask) Start(cfg map[string]string) error { c.cfg = cfg; return nil }
func (c *oneTask) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{c.cfg}, nil
}
func (c *oneTask) Stop() error { return nil }

// structSource emits "count" orders with orderSchema, then nothing.
type structSource struct{ oneTask }

func (*structSource) ConfigDef() plugin.ConfigDef {
	return plugin.ConfigDef{{Name: "topic", Type: plugin.TypeString, Required: true}, {Name: "count", Type: plugin.TypeInt, Default: "10"}}
}
func (*structSource) NewTask() plugin.SourceTask { return &structSourceTask{} }

type structSourceTask struct {
	topic string
	n, i  int
}

func (t *structSourceTask) Start(_ plugin.TaskContext, cfg map[string]string) error {
	t.topic = cfg["topic"]
	t.n, _ = strconv.Atoi(cfg["count"])
	if t.n == 0 {
		t.n = 10
	}
	return nil
}

func (t *structSourceTask) Poll(ctx context.Context) ([]*plugin.SourceRecord, error) {
	if t.i >= t.n {
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return nil, nil
	}
	var out []*plugin.SourceRecord
	for ; t.i < t.n && len(out) < 100; t.i++ {
		v := plugin.NewStruct(orderSchema).Put("id", int64(t.i)).Put("price", avrodata.UnscaledBytes(big.NewInt(int64(t.i*100+5)))).
			Put("at", int64(1700000000000+t.i)).Put("small", int8(t.i%100))
		if t.i%2 == 0 {
			v.Put("note", fmt.Sprintf("n%d", t.i))
		}
		out = append(out, &plugin.SourceRecord{Topic: t.topic, KeySchema: &plugin.Schema{Type: plugin.String}, Key: strconv.Itoa(t.i), ValueSchema: orderSchema, Value: v})
	}
	return out, nil
}
func (t *structSourceTask) Commit() error { return nil }
func (t *structSourceTask) Stop() error   { return nil }

// captureSink keeps what it is given, per "capture" name.
type captureSink struct{ oneTask }

var captured = struct {
	sync.Mutex
	m map[string][]*plugin.SinkRecord
}{m: map[string][]*plugin.SinkRecord{}}

func capturedRecords(name string) []*plugin.SinkRecord {
	captured.Lock()
	defer captured.Unlock()
	return append([]*plugin.SinkRecord(nil), captured.m[name]...)
}

func (*captureSink) ConfigDef() plugin.ConfigDef {
	return plugin.ConfigDef{{Name: "capture", Type: plugin.TypeString, Required: true}}
}
func (*captureSink) NewTask() plugin.SinkTask { return &captureTask{} }

type captureTask struct{ name string }

func (c *captureTask) Start(_ plugin.TaskContext, cfg map[string]string) error {
	c.name = cfg["capture"]
	return nil
}
func (c *captureTask) Put(recs []*plugin.SinkRecord) error {
	captured.Lock()
	captured.m[c.name] = append(captured.m[c.name], recs...)
	captured.Unlock()
	return nil
}
func (c *captureTask) Flush(map[plugin.TopicPartition]int64) error { return nil }
func (c *captureTask) PreCommit(o map[plugin.TopicPartition]int64) (map[plugin.TopicPartition]int64, error) {
	return o, nil
}
func (c *captureTask) Stop() error { return nil }

func init() {
	plugin.Register(plugin.Plugin{Class: "io.sluice.test.StructSourceConnector", Kind: plugin.Source, New: func() plugin.Connector { return &structSource{} }})
	plugin.Register(plugin.Plugin{Class: "io.sluice.test.CaptureSinkConnector", Kind: plugin.Sink, New: func() plugin.Connector { return &captureSink{} }})
}

func TestAvroConverterEndToEnd(t *testing.T) {
	kafka := startKafka(t)
	regURL := testenv.StartRegistry(t, kafka)
	w := startWorker(t, kafka)
	const n = 250
	avro := map[string]string{"value.converter": runtime.AvroConverterClass, "value.converter.schema.registry.url": regURL,
		"key.converter": runtime.StringConverterClass}
	src := map[string]string{"connector.class": "io.sluice.test.StructSourceConnector", "topic": "orders-avro", "count": strconv.Itoa(n)}
	capture := "avro-e2e-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	sink := map[string]string{"connector.class": "io.sluice.test.CaptureSinkConnector", "topics": "orders-avro", "capture": capture}
	for k, v := range avro {
		src[k], sink[k] = v, v
	}
	if st, body := call(t, "POST", w.url+"/connectors", map[string]any{"name": "avro-src", "config": src}); st != 201 {
		t.Fatalf("create source: %d %s", st, body)
	}
	if st, body := call(t, "POST", w.url+"/connectors", map[string]any{"name": "avro-sink", "config": sink}); st != 201 {
		t.Fatalf("create sink: %d %s", st, body)
	}
	waitFor(t, "records in the sink", func() bool { return len(capturedRecords(capture)) >= n })
	recs := capturedRecords(capture)
	seen := map[int64]bool{}
	for _, r := range recs {
		st, ok := r.Value.(*plugin.Struct)
		if !ok || r.ValueSchema == nil || st.Schema != r.ValueSchema {
			t.Fatalf("value %T schema %v", r.Value, r.ValueSchema)
		}
		s := r.ValueSchema
		if s.Name != "io.sluice.test.Order" || s.Version != 1 || s.Field("price").Name != avrodata.DecimalName || s.Field("small").Type != plugin.Int8 || !s.Field("note").Optional {
			t.Fatalf("schema read back = %+v", s)
		}
		id := st.Get("id").(int64)
		seen[id] = true
		if avrodata.Unscaled(st.Get("price").([]byte)).Int64() != id*100+5 || st.Get("at") != 1700000000000+id || st.Get("small") != id%100 {
			t.Fatalf("record %d = %v", id, st.Values)
		}
		if (id%2 == 0) != (st.Get("note") != nil) {
			t.Fatalf("record %d note = %v", id, st.Get("note"))
		}
		if r.Key != strconv.FormatInt(id, 10) {
			t.Fatalf("key = %v", r.Key)
		}
	}
	if len(seen) != n {
		t.Fatalf("distinct records = %d", len(seen))
	}

	// The schema is registered under TopicNameStrategy's subject.
	st, body := call(t, "GET", regURL+"/subjects", nil)
	if st != 200 || !strings.Contains(string(body), `"orders-avro-value"`) {
		t.Fatalf("subjects: %d %s", st, body)
	}
	st, body = call(t, "GET", regURL+"/subjects/orders-avro-value/versions/latest", nil)
	var latest struct {
		ID      int    `json:"id"`
		Version int    `json:"version"`
		Schema  string `json:"schema"`
	}
	if st != 200 || json.Unmarshal(body, &latest) != nil || latest.Version != 1 {
		t.Fatalf("latest: %d %s", st, body)
	}
	for _, want := range []string{`"name":"Order"`, `"namespace":"io.sluice.test"`, `"connect.name":"io.sluice.test.Order"`, `"logicalType":"decimal"`, `"connect.type":"int8"`} {
		if !strings.Contains(latest.Schema, want) {
			t.Fatalf("registered schema lacks %s: %s", want, latest.Schema)
		}
	}

	// Kafka holds the Confluent wire format: magic 0 and that id.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics("orders-avro"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 1)
	if len(fs.Records()) == 0 {
		t.Fatalf("no record read: %v", fs.Errors())
	}
	v := fs.Records()[0].Value
	if len(v) < 5 || v[0] != 0 || int(v[1])<<24|int(v[2])<<16|int(v[3])<<8|int(v[4]) != latest.ID {
		t.Fatalf("wire header = % x, id %d", v[:5], latest.ID)
	}

	// auto.register.schemas=false: an unregistered subject is an error;
	// use.latest.version writes with the subject's latest schema.
	noReg, err := runtime.NewAvroConverter(map[string]string{"schema.registry.url": regURL, "auto.register.schemas": "false"}, false)
	if err != nil {
		t.Fatal(err)
	}
	val := plugin.NewStruct(orderSchema).Put("id", int64(1)).Put("price", []byte{1}).Put("at", int64(0)).Put("small", int64(1))
	if _, err := noReg.FromConnect("unregistered", orderSchema, val); err == nil || !strings.Contains(err.Error(), "40401") {
		t.Fatalf("lookup of an unregistered subject: %v", err)
	}
	b, err := noReg.FromConnect("orders-avro", orderSchema, val)
	if err != nil {
		t.Fatalf("lookup of a registered schema: %v", err)
	}
	useLatest, _ := runtime.NewAvroConverter(map[string]string{"schema.registry.url": regURL, "auto.register.schemas": "false", "use.latest.version": "true"}, false)
	b2, err := useLatest.FromConnect("orders-avro", orderSchema, val)
	if err != nil || string(b2) != string(b) {
		t.Fatalf("use.latest.version: %v (% x vs % x)", err, b2, b)
	}
	s, back, err := useLatest.ToConnect("orders-avro", b2)
	if err != nil || back.(*plugin.Struct).Get("id") != int64(1) || s.Name != "io.sluice.test.Order" {
		t.Fatalf("read back: %v %v", back, err)
	}
	if _, _, err := useLatest.ToConnect("orders-avro", []byte("plain")); err == nil {
		t.Fatal("unframed bytes accepted")
	}
}
