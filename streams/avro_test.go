package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/schemaregistry/serde"
)

func registerSchema(t *testing.T, url, subject, schema string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"schema": schema})
	resp, err := http.Post(url+"/subjects/"+subject+"/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID int `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("register %s: %s %v", subject, resp.Status, err)
	}
	return out.ID
}

const bidSchema = `{"type": "record", "name": "Bid", "namespace": "nexmark", "fields": [
  {"name": "auction", "type": "long"},
  {"name": "price", "type": "double"},
  {"name": "channel", "type": ["null", "string"], "default": null},
  {"name": "date_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}`

// TestAvroThroughRegistry reads Avro values in the Confluent wire format
// (writer schema fetched by id), aggregates them in windows, and writes
// Avro with a schema the job registers; a record that is not in the wire
// format goes to the dead-letter topic.
func TestAvroThroughRegistry(t *testing.T) {
	addr := testenv.StartBroker(t).Addr
	regURL := testenv.StartRegistry(t, addr)
	createTopics(t, addr, "avro-bids")
	id := registerSchema(t, regURL, "avro-bids-value", bidSchema)
	keyID := registerSchema(t, regURL, "avro-bids-key", `{"type": "record", "name": "BidKey", "fields": [{"name": "user", "type": "string"}]}`)

	e, _ := startRealEngine(t, addr)
	job := fmt.Sprintf(`name: avro
registry: %s
sources:
  - name: bids
    topic: avro-bids
    key: avro
    value: {format: avro, fields: {auction: int, price: float, channel: any, date_time: int}}
    time: date_time
steps:
  - filter: channel != nil && _key.user == "u1"
  - window: {type: tumbling, size: 10s}
  - aggregate:
      group_by: channel
      fields: {bids: count, top: {fn: max, of: price}}
  - emit: final
sink:
  topic: avro-out
  key_format: {format: avro, schema: '"string"'}
  format: avro
  schema: '{"type": "record", "name": "ChannelStats", "fields": [{"name": "bids", "type": "long"}, {"name": "top", "type": ["null", "double"]}, {"name": "window_start", "type": "long"}, {"name": "window_end", "type": "long"}]}'
`, regURL)
	if _, err := e.Apply(context.Background(), []byte(job)); err != nil {
		t.Fatal(err)
	}

	sd := &serde.Avro{Client: &serde.Client{URL: regURL}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("avro-bids"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	bid := func(auction int64, price float64, channel string, ms int64) *kgo.Record {
		var ch any
		if channel != "" {
			ch = goavro.Union("string", channel)
		}
		b, err := sd.Encode(ctx, id, map[string]any{"auction": auction, "price": price, "channel": ch, "date_time": time.UnixMilli(ms)})
		if err != nil {
			t.Fatal(err)
		}
		k, err := sd.Encode(ctx, keyID, map[string]any{"user": "u1"})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Key: k, Value: b}
	}
	recs := []*kgo.Record{
		bid(1, 10, "web", 1000), bid(2, 30, "web", 2000), bid(3, 99, "", 3000), bid(4, 20, "app", 4000),
		{Key: []byte("k"), Value: []byte(`{"not": "avro"}`)},
		bid(5, 1, "web", 25000), // closes [0, 10s)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	out, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("avro-out", "_sluice-streams-avro-dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	got := map[string]string{}
	dead := 0
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for len(got) < 2 || dead < 1 {
		fs := out.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("got %v and %d dead letters", got, dead)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic != "avro-out" {
				dead++
				return
			}
			native, _, err := sd.Decode(ctx, r.Value)
			if err != nil {
				t.Fatalf("output is not wire-format avro: %v", err)
			}
			m := native.(map[string]any)
			key, _, err := sd.Decode(ctx, r.Key)
			if err != nil {
				t.Fatalf("output key is not wire-format avro: %v", err)
			}
			got[fmt.Sprint(key)] = fmt.Sprintf("bids=%v top=%v [%v,%v)", m["bids"], m["top"], m["window_start"], m["window_end"])
		})
	}
	want := map[string]string{
		"web": "bids=2 top=map[double:30] [0,10000)",
		"app": "bids=1 top=map[double:20] [0,10000)",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	// An output that does not fit the sink schema sends its input record
	// to the dead-letter topic.
	bad := fmt.Sprintf(`name: avro-bad
registry: %s
sources: [{name: bids, topic: avro-bids, key: avro, value: avro}]
steps:
  - map: {n: channel}
sink: {topic: avro-bad-out, format: avro, schema: '{"type": "record", "name": "N", "fields": [{"name": "n", "type": "long"}]}'}
`, regURL)
	if _, err := e.Apply(ctx, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	dlq, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("_sluice-streams-avro-bad-dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	for found := false; !found; {
		fs := dlq.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatal("no dead letter for an output that does not fit the schema")
		}
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "sluice.error" && strings.Contains(string(h.Value), "does not fit the avro schema") {
					found = true
				}
			}
		})
	}

	// The job registered its output schema under <topic>-value.
	resp, err := http.Get(regURL + "/subjects/avro-out-value/versions/latest")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sv struct{ Schema string }
	if err := json.NewDecoder(resp.Body).Decode(&sv); err != nil || !strings.Contains(sv.Schema, "ChannelStats") {
		t.Fatalf("sink schema not registered: %v %q", err, sv.Schema)
	}
}
