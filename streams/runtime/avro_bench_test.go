package runtime

import (
	"context"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/schemaregistry/serde"
)

// BenchmarkAvroRoundTrip decodes a wire-format Nexmark bid into the plain
// value expressions see and encodes it back, with the schema cached (no
// registry round trip), against the JSON path for the same record.
func BenchmarkAvroRoundTrip(b *testing.B) {
	const schema = `{"type": "record", "name": "Bid", "fields": [
  {"name": "auction", "type": "long"}, {"name": "bidder", "type": "long"},
  {"name": "price", "type": "double"}, {"name": "channel", "type": ["null", "string"]},
  {"name": "date_time", "type": "long"}]}`
	codec, err := codecFor(schema, nil)
	if err != nil {
		b.Fatal(err)
	}
	a := newAvroCodecs("http://127.0.0.1:1")
	a.byID[1] = codec
	sink := &avroSink{id: 1, codec: codec}
	native, err := goavro.NewCodec(schema)
	if err != nil {
		b.Fatal(err)
	}
	wire, err := native.BinaryFromNative(serde.AppendHeader(nil, 1), map[string]any{
		"auction": int64(1007), "bidder": int64(2001), "price": 123.5,
		"channel": goavro.Union("string", "web"), "date_time": int64(1700000000000)})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("avro", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			v, err := a.decode(context.Background(), wire)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sink.encode(v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("json", func(b *testing.B) {
		src := compileJob(b, "name: j\nsources: [{name: s, topic: t}]\nsink: {topic: o}\n").Sources[0]
		raw := []byte(`{"auction": 1007, "bidder": 2001, "price": 123.5, "channel": "web", "date_time": 1700000000000}`)
		b.ReportAllocs()
		for range b.N {
			v, err := DecodeValue(src, raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := EncodeValue("json", v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
