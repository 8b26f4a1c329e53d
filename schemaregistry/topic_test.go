package schemaregistry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// confluentRecords is a _schemas topic as Confluent's registry (and
// Karapace) write it, with a tombstone, a soft-deleted subject, a Protobuf
// schema, a record kind from the future and a garbage record.
var confluentRecords = [][2]string{
	{`{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}`, `{"subject":"orders-value","version":1,"id":7,"schema":"{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}","deleted":false}`},
	{`{"keytype":"SCHEMA","subject":"orders-value","version":2,"magic":1}`, `{"subject":"orders-value","version":2,"id":9,"schema":"{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"qty\",\"type\":\"int\",\"default\":1}]}","deleted":false}`},
	{`{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"FULL"}`},
	{`{"keytype":"CONFIG","subject":"orders-value","magic":0}`, `{"compatibilityLevel":"NONE"}`},
	{`{"keytype":"SCHEMA","subject":"proto","version":1,"magic":1}`, `{"subject":"proto","version":1,"id":3,"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";\nmessage M { string a = 1; }\n","deleted":false}`},
	{`{"keytype":"SCHEMA","subject":"gone","version":1,"magic":1}`, `{"subject":"gone","version":1,"id":7,"schema":"{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}","deleted":false}`},
	{`{"keytype":"DELETE_SUBJECT","subject":"gone","magic":0}`, `{"subject":"gone","version":1}`},
	{`{"keytype":"SCHEMA","subject":"tomb","version":1,"magic":1}`, `{"subject":"tomb","version":1,"id":12,"schema":"\"int\"","deleted":true}`},
	{`{"keytype":"SCHEMA","subject":"tomb","version":1,"magic":1}`, ``},
	{`{"keytype":"NOOP","magic":0}`, ``},
	{`{"keytype":"SOMETHING_NEW","magic":0}`, `{"x":1}`},
	{`not json at all`, `{`},
	{`{"keytype":"MODE","subject":null,"magic":0}`, `{"mode":"READWRITE"}`},
}

func produceRaw(t *testing.T, kafka string, recs [][2]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("_schemas"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	compact := "compact"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, "_schemas"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range recs {
		r := &kgo.Record{Key: []byte(kv[0])}
		if kv[1] != "" {
			r.Value = []byte(kv[1])
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadConfluentTopic starts on a topic another registry wrote, then
// restarts and checks ids are never reused.
func TestLoadConfluentTopic(t *testing.T) {
	kafka := startKafka(t)
	produceRaw(t, kafka, confluentRecords)
	reg := startRegistry(t, kafka)
	u := reg.url

	var subjects []string
	do(t, "GET", u+"/subjects", nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "orders-value,proto" {
		t.Fatalf("subjects %v", subjects)
	}
	do(t, "GET", u+"/subjects?deleted=true", nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "gone,orders-value,proto" {
		t.Fatalf("subjects with deleted %v", subjects)
	}
	var ver struct {
		ID      int    `json:"id"`
		Version int    `json:"version"`
		Schema  string `json:"schema"`
	}
	do(t, "GET", u+"/subjects/orders-value/versions/latest", nil).json(t, &ver)
	if ver.ID != 9 || ver.Version != 2 {
		t.Fatalf("latest %+v", ver)
	}
	var proto struct {
		SchemaType string `json:"schemaType"`
		Schema     string `json:"schema"`
	}
	do(t, "GET", u+"/schemas/ids/3", nil).json(t, &proto)
	if proto.SchemaType != "PROTOBUF" || !strings.Contains(proto.Schema, "message M") {
		t.Fatalf("protobuf kept as written: %+v", proto)
	}
	expect(t, do(t, "GET", u+"/schemas/ids/12", nil), 404, 40403)
	var cfg map[string]any
	do(t, "GET", u+"/config", nil).json(t, &cfg)
	if cfg["compatibilityLevel"] != "FULL" {
		t.Fatalf("global config %v", cfg)
	}
	do(t, "GET", u+"/config/orders-value", nil).json(t, &cfg)
	if cfg["compatibilityLevel"] != "NONE" {
		t.Fatalf("subject config %v", cfg)
	}
	// The same schema registered here finds Confluent's id (whitespace and
	// all aside).
	same := `{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}`
	if id := register(t, u, "copy", schemaBody(same)); id != 7 {
		t.Fatalf("existing schema got id %d, want 7", id)
	}
	// A new schema gets an id above every id the topic ever held.
	if id := register(t, u, "fresh", schemaBody(`"double"`)); id != 13 {
		t.Fatalf("new id %d, want 13", id)
	}

	// Restart: the state comes back from the topic alone.
	reg.stop()
	reg2 := startRegistry(t, kafka)
	do(t, "GET", reg2.url+"/subjects", nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "copy,fresh,orders-value,proto" {
		t.Fatalf("after restart %v", subjects)
	}
	if id := register(t, reg2.url, "fresher", schemaBody(`"float"`)); id != 14 {
		t.Fatalf("id after restart %d, want 14", id)
	}

	// What we wrote is in Confluent's format.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"_schemas": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	found := false
	for !found {
		fs := cl.PollFetches(context.Background())
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == `{"keytype":"SCHEMA","subject":"fresher","version":1,"magic":1}` {
				found = true
				if want := `{"subject":"fresher","version":1,"id":14,"schema":"\"float\"","deleted":false}`; string(r.Value) != want {
					t.Errorf("value %s, want %s", r.Value, want)
				}
			}
		})
		if err := fs.Err0(); err != nil {
			t.Fatal(fmt.Errorf("consume: %w", err))
		}
	}
}
