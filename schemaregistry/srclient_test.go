package schemaregistry_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/schemaregistry/serde"
)

const paymentSchema = `{"type":"record","name":"Payment","namespace":"shop","fields":[` +
	`{"name":"id","type":"string"},{"name":"amount","type":"double"},` +
	`{"name":"note","type":["null","string"],"default":null}]}`

// TestFranzSRClient drives the registry with franz-go's Confluent-compatible
// client, then round-trips Avro records through Kafka: framed by our serde
// and read by the client's serde, and the other way round.
func TestFranzSRClient(t *testing.T) {
	kafka := startKafka(t)
	reg := startRegistry(t, kafka)
	ctx := context.Background()
	cl, err := sr.NewClient(sr.URLs(reg.url))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: paymentSchema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	if ss.Version != 1 || ss.ID == 0 {
		t.Fatalf("created %+v", ss)
	}
	again, err := cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: paymentSchema, Type: sr.TypeAvro})
	if err != nil || again.ID != ss.ID || again.Version != 1 {
		t.Fatalf("again %+v %v", again, err)
	}
	byID, err := cl.SchemaByID(ctx, ss.ID)
	if err != nil || byID.Schema != paymentSchema {
		t.Fatalf("by id %+v %v", byID, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "payments-value", -1)
	if err != nil || latest.ID != ss.ID {
		t.Fatalf("latest %+v %v", latest, err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || !reflect.DeepEqual(subjects, []string{"payments-value"}) {
		t.Fatalf("subjects %v %v", subjects, err)
	}
	found, err := cl.LookupSchema(ctx, "payments-value", sr.Schema{Schema: paymentSchema})
	if err != nil || found.ID != ss.ID {
		t.Fatalf("lookup %+v %v", found, err)
	}
	bad := `{"type":"record","name":"Payment","namespace":"shop","fields":[{"name":"id","type":"int"}]}`
	res, err := cl.CheckCompatibility(ctx, "payments-value", -1, sr.Schema{Schema: bad})
	if err != nil || res.Is {
		t.Fatalf("compatibility %+v %v", res, err)
	}
	_, err = cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: bad})
	var srErr *sr.ResponseError
	if !errors.As(err, &srErr) || srErr.ErrorCode != 409 {
		t.Fatalf("incompatible register: %v", err)
	}
	_, err = cl.SchemaByID(ctx, 4242)
	if !errors.As(err, &srErr) || srErr.ErrorCode != 40403 {
		t.Fatalf("missing id: %v", err)
	}

	// Records through Kafka.
	codec, err := goavro.NewCodec(paymentSchema)
	if err != nil {
		t.Fatal(err)
	}
	var theirs sr.Serde
	theirs.Register(ss.ID, map[string]any{},
		sr.EncodeFn(func(v any) ([]byte, error) { return codec.BinaryFromNative(nil, v) }),
		sr.DecodeFn(func(b []byte, v any) error {
			native, _, err := codec.NativeFromBinary(b)
			if err != nil {
				return err
			}
			*(v.(*map[string]any)) = native.(map[string]any)
			return nil
		}))
	ours := &serde.Avro{Client: &serde.Client{URL: reg.url}}

	kc, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("payments"),
		kgo.ConsumeTopics("payments"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if _, err := kadm.NewClient(kc).CreateTopic(ctx, 1, 1, nil, "payments"); err != nil {
		t.Fatal(err)
	}
	p1 := map[string]any{"id": "p1", "amount": 12.5, "note": goavro.Union("string", "first")}
	p2 := map[string]any{"id": "p2", "amount": 3.0, "note": nil}
	b1, err := ours.Encode(ctx, ss.ID, p1)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := theirs.Encode(p2)
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.ProduceSync(ctx, &kgo.Record{Value: b1}, &kgo.Record{Value: b2}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for len(got) < 2 {
		fs := kc.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	// Ours framed it, theirs reads it.
	var first map[string]any
	if err := theirs.Decode(got[0], &first); err != nil {
		t.Fatal(err)
	}
	if first["id"] != "p1" || first["amount"] != 12.5 || !reflect.DeepEqual(first["note"], map[string]any{"string": "first"}) {
		t.Fatalf("first record %v", first)
	}
	// Theirs framed it, ours reads it.
	second, id, err := ours.Decode(ctx, got[1])
	if err != nil || id != ss.ID {
		t.Fatalf("decode: %v id %d", err, id)
	}
	if m := second.(map[string]any); m["id"] != "p2" || m["amount"] != 3.0 || m["note"] != nil {
		t.Fatalf("second record %v", m)
	}
}
