package s3sink

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/linkedin/goavro/v2"

	"github.com/sluicehq/sluice/connect/plugin"
)

// Avro files for every avro.codec: the same bytes each time (a replay
// rewrites identical objects), readable by goavro's OCF reader (which
// knows null, deflate and snappy), blocks of avroBlock records.
func TestAvroFileCodecs(t *testing.T) {
	var a arena
	var items []item
	const n = 2*avroBlock + 7
	for i := 0; i < n; i++ {
		v := plugin.NewStruct(orderSchema).Put("id", int64(i)).Put("price", float64(i)/4)
		if i%2 == 0 {
			v.Put("item", fmt.Sprint("thing ", i))
		}
		it, err := avroFormat{}.encode(a.free(), orderSchema, v)
		if err != nil {
			t.Fatal(err)
		}
		it.b = a.keep(it.b)
		items = append(items, it)
	}
	for _, codec := range []string{"null", "deflate", "snappy", "zstandard"} {
		f := avroFormat{codec: codec}
		b, err := f.file(items, "topics/o/partition=0/o+0+0000000000.avro")
		if err != nil {
			t.Fatal(err)
		}
		again, _ := f.file(items, "topics/o/partition=0/o+0+0000000000.avro")
		if !bytes.Equal(b, again) {
			t.Fatalf("%s: two files of the same records differ", codec)
		}
		if codec == "zstandard" {
			// goavro has no zstandard: read the first block by hand.
			if !bytes.Contains(b, []byte("avro.codec\x12zstandard")) {
				t.Fatalf("zstandard header: %q", b[:40])
			}
			dec, _ := zstd.NewReader(nil)
			defer dec.Close()
			var raw []byte
			for _, it := range items[:avroBlock] {
				raw = append(raw, it.b...)
			}
			packed, _ := zstd.NewWriter(nil)
			frame := packed.EncodeAll(raw, nil)
			if !bytes.Contains(b, frame) {
				t.Fatal("zstandard: first block is not the zstd frame of its records")
			}
			if back, err := dec.DecodeAll(frame, nil); err != nil || !bytes.Equal(back, raw) {
				t.Fatalf("zstandard: %v", err)
			}
			continue
		}
		rd, err := goavro.NewOCFReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		i := 0
		for rd.Scan() {
			v, err := rd.Read()
			if err != nil {
				t.Fatalf("%s record %d: %v", codec, i, err)
			}
			m := v.(map[string]any)
			if m["id"] != int64(i) || m["price"] != float64(i)/4 || (i%2 == 0) != (m["item"] != nil) {
				t.Fatalf("%s record %d: %v", codec, i, v)
			}
			i++
		}
		if i != n || rd.CompressionName() != codec {
			t.Fatalf("%s: %d records, codec %s", codec, i, rd.CompressionName())
		}
	}
}
