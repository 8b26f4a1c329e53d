package s3sink_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/avrodata"
	"github.com/sluicehq/sluice/internal/testenv"
)

// orderAvro is the schema a producer registers: what a Java or Go client
// writes by hand, with an enum, a decimal, a timestamp, unions, a nested
// record, an array and a map.
const orderAvro = `{"type":"record","name":"Order","namespace":"com.shop","fields":[
  {"name":"id","type":"long"},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"note","type":["null","string"],"default":null},
  {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"name","type":"string"},{"name":"vip","type":"boolean"}]}},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"counts","type":{"type":"map","values":"long"}}
]}`

// TestAvroFromRegistry: records produced in Confluent's wire format with
// a schema registered in our registry go through the AvroConverter of a
// worker process into Avro object container files. goavro's OCF reader
// reads every file; its writer schema has the registry schema's canonical
// form (and is what Confluent's AvroData makes of it), and every record
// re-encodes under the registry's schema to the bytes produced.
func TestAvroFromRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newRig(t, ctx)
	r.bucket("sink")
	regURL := testenv.StartRegistry(t, r.broker)

	body, _ := json.Marshal(map[string]string{"schema": orderAvro})
	resp, err := http.Post(regURL+"/subjects/orders-value/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ ID int }
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &reg); err != nil || reg.ID == 0 {
		t.Fatalf("register: %s %s", resp.Status, b)
	}
	codec, err := goavro.NewCodec(orderAvro)
	if err != nil {
		t.Fatal(err)
	}

	const parts, perPart, flush = 2, 40, 10
	if _, err := kadm.NewClient(r.kafka).CreateTopic(ctx, parts, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	payloads := make([][][]byte, parts) // the Avro datum of each record
	var recs []*kgo.Record
	for p := 0; p < parts; p++ {
		for i := 0; i < perPart; i++ {
			var note any
			if i%3 == 0 {
				note = goavro.Union("string", fmt.Sprintf("note %d", i))
			}
			v := map[string]any{"id": int64(p*1000 + i), "status": []string{"NEW", "PAID", "SHIPPED"}[i%3],
				"price": big.NewRat(int64(i*100+99), 100), "at": time.UnixMilli(1700000000000 + int64(i)).UTC(), "note": note,
				"customer": map[string]any{"name": "c" + strconv.Itoa(i), "vip": i%2 == 0},
				"tags":     []any{"a", strconv.Itoa(i)}, "counts": map[string]any{"n": int64(i)}}
			datum, err := codec.BinaryFromNative(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			payloads[p] = append(payloads[p], datum)
			wire := binary.BigEndian.AppendUint32([]byte{0}, uint32(reg.ID))
			recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(p), Value: append(wire, datum...)})
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r.create("avro", r.config(map[string]string{"topics": "orders", "format.class": "io.confluent.connect.s3.format.avro.AvroFormat",
		"flush.size": strconv.Itoa(flush), "value.converter": "io.confluent.connect.avro.AvroConverter",
		"value.converter.schema.registry.url": regURL}))
	objs := r.waitObjects("sink", "topics/orders/", parts*perPart/flush)
	connectSchema, err := avrodata.FromAvroSchema(orderAvro)
	if err != nil {
		t.Fatal(err)
	}
	confluent, err := avrodata.ToAvroSchema(connectSchema)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^topics/orders/partition=(\d)/orders\+(\d)\+(\d{10})\.avro$`)
	seen := 0
	for key, data := range objs {
		m := re.FindStringSubmatch(key)
		if m == nil || m[1] != m[2] {
			t.Fatalf("unexpected object %s", key)
		}
		p, _ := strconv.Atoi(m[1])
		start, _ := strconv.Atoi(m[3])
		rd, err := goavro.NewOCFReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if got := rd.Codec().CanonicalSchema(); got != codec.CanonicalSchema() {
			t.Fatalf("%s: writer schema\n%s\nis not the registry's\n%s", key, got, codec.CanonicalSchema())
		}
		if got := rd.Codec().Schema(); got != confluent {
			t.Fatalf("%s: writer schema\n%s\nwant\n%s", key, got, confluent)
		}
		n := 0
		for rd.Scan() {
			v, err := rd.Read()
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			again, err := codec.BinaryFromNative(nil, v)
			if err != nil {
				t.Fatalf("%s record %d: %v", key, n, err)
			}
			if !bytes.Equal(again, payloads[p][start+n]) {
				t.Fatalf("%s record %d: %v differs from what was produced", key, n, v)
			}
			n++
		}
		if n != flush {
			t.Fatalf("%s: %d records, want %d", key, n, flush)
		}
		seen += n
	}
	if seen != parts*perPart {
		t.Fatalf("%d records in files, want %d", seen, parts*perPart)
	}
}
